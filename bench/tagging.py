"""Benchmark keyword tagging: substring loop vs one regex vs scrm's matcher and whole evaluation.

Run: ``.venv/bin/python bench/tagging.py [--messages N] [--quick]``

The corpus is generated (fixed seed) already in normal form, so every method sees the same
text and must return the same set of hit keywords per message; the run fails loudly if not.

How the regex finds overlapping hits: one alternation inside a lookahead, ``(?=(k1|k2|…))``,
with the alternatives sorted longest first, reports at every start position the longest
keyword beginning there (``re`` takes the first alternative that matches). Every other
keyword beginning at that position is a prefix of that one, so adding each found keyword's
keyword-prefixes gives exactly the set of keywords occurring in the message.

The two slow methods are timed on the first messages of the corpus only (column
"timed on"); the per-message hit sets are compared on those same messages.
"""

import argparse
import itertools
import random
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

# This file is itself named tagging.py: make sure "tagging" means the package at the root.
_ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [str(_ROOT), *(p for p in sys.path if Path(p or ".").resolve() != _ROOT / "bench")]

from tagging import RuleEngine, compile_keywords, normalize, parse_rule  # noqa: E402

SEED = 20240601
EMOJI = "😀👍🙏😂❤🎉😭💰"
PUNCTUATION = "。、,!? "
TARGETS = {"scrm matcher": 50.0, "scrm evaluation": 20.0}  # × the loop, at 10,000 keywords

Method = Callable[[str], set[str]]


def make_pool(rng: random.Random, size: int = 3000) -> list[str]:
    """Pick CJK characters that are already simplified (normalise to themselves)."""
    candidates = [chr(code) for code in range(0x4E00, 0x9FA6) if normalize(chr(code)) == chr(code)]
    return rng.sample(candidates, size)


def make_word(rng: random.Random, pool: Sequence[str]) -> str:
    """Make a 2–4 character word."""
    return "".join(rng.choices(pool, k=rng.randint(2, 4)))


def make_corpus(rng: random.Random, pool: list[str], vocabulary: list[str], n: int) -> list[str]:
    """Make ``n`` chat messages of 5–80 characters: words, filler characters, emoji."""
    weights = list(itertools.accumulate(1 / (rank + 10) for rank in range(len(vocabulary))))
    messages = []
    for _ in range(n):
        length = rng.randint(5, 80)
        parts: list[str] = []
        size = 0
        while size < length:
            roll = rng.random()
            if roll < 0.45:
                part = rng.choices(vocabulary, cum_weights=weights)[0]  # Zipf-like
            elif roll < 0.9:
                part = rng.choice(pool)
            elif roll < 0.97:
                part = rng.choice(PUNCTUATION)
            else:
                part = rng.choice(EMOJI)
            parts.append(part)
            size += len(part)
        messages.append("".join(parts)[:length])
    return messages


def make_keywords(rng: random.Random, pool: list[str], vocabulary: list[str], n: int) -> list[str]:
    """Make ``n`` distinct keywords, about a third of them words the corpus uses."""
    keywords: dict[str, None] = {}
    used = rng.sample(vocabulary, min(len(vocabulary), n // 3))
    keywords.update(dict.fromkeys(used))
    while len(keywords) < n:
        keywords[make_word(rng, pool)] = None
    result = list(keywords)
    rng.shuffle(result)
    return result


def substring_loop(keywords: list[str]) -> Method:
    """Test every keyword with ``in``, as open peers do."""
    return lambda text: {keyword for keyword in keywords if keyword in text}


def regex_alternation(keywords: list[str]) -> Method:
    """One compiled alternation; see the module docstring for the overlap handling."""
    ordered = sorted(keywords, key=len, reverse=True)
    pattern = re.compile("(?=(" + "|".join(map(re.escape, ordered)) + "))")
    keyword_set = set(keywords)
    prefixes = {k: [k[:i] for i in range(1, len(k)) if k[:i] in keyword_set] for k in keywords}

    def method(text: str) -> set[str]:
        found: set[str] = set()
        for match in pattern.finditer(text):
            longest = match.group(1)
            found.add(longest)
            found.update(prefixes[longest])
        return found

    return method


def scrm_matcher(keywords: list[str]) -> Method:
    """scrm's compiled automaton alone, on text known to be normal already.

    Like the loop and the regex it answers which keywords occur, not where
    (``KeywordMatcher.payloads``); the whole evaluation below also computes positions.
    """
    return compile_keywords(keywords).payloads


def scrm_evaluation(keywords: list[str]) -> Method:
    """scrm's whole path: normalise, match, any/all/exclude, scope, positions, per rule.

    Rules take five keywords each as keywords_any, half scoped "customer" and half "any",
    each with an exclude phrase that never occurs (〇 is not in the corpus) so that the
    exclude bookkeeping runs without changing which keywords count.
    """
    rules = [
        parse_rule(
            {
                "name": f"rule {start}",
                "keywords_any": keywords[start : start + 5],
                "exclude": [keywords[start] + "〇"],
                "scope": "customer" if start % 10 else "any",
                "actions": [{"type": "add_tag", "tag": f"tag{start}"}],
            },
            start,
        )
        for start in range(0, len(keywords), 5)
    ]
    engine = RuleEngine(rules)
    return lambda text: {
        hit.keyword for match in engine.evaluate(text, "customer") for hit in match.keywords
    }


METHODS: list[tuple[str, Callable[[list[str]], Method], bool]] = [
    ("substring loop", substring_loop, True),  # True: slow, timed on a sample
    ("re alternation", regex_alternation, True),
    ("scrm matcher", scrm_matcher, False),
    ("scrm evaluation", scrm_evaluation, False),
]


def timed(method: Method, messages: list[str]) -> tuple[float, list[set[str]]]:
    """Run ``method`` over ``messages``; return messages per second and the hit sets."""
    started = time.perf_counter()
    results = [method(text) for text in messages]
    return len(messages) / (time.perf_counter() - started), results


def run(messages: list[str], keyword_sets: dict[int, list[str]], samples: dict[int, int]) -> bool:
    """Time every method on every keyword set, check they agree, print the table."""
    print(f"{'method':<16} {'keywords':>8} {'timed on':>9} {'messages/s':>12} {'vs loop':>8}")
    met = True
    for count, keywords in keyword_sets.items():
        sample = min(samples[count], len(messages))
        reference: list[set[str]] = []
        loop_rate = 0.0
        full: dict[str, list[set[str]]] = {}
        for name, build, slow in METHODS:
            subset = messages[:sample] if slow else messages
            rate, results = timed(build(keywords), subset)
            if not reference:
                reference, loop_rate = results, rate
            for index, (got, want) in enumerate(zip(results, reference, strict=False)):
                if got != want:
                    raise SystemExit(
                        f"MISMATCH: {name} at {count} keywords, message {index}: "
                        f"{sorted(got ^ want)} differ from the substring loop"
                    )
            if not slow:
                full[name] = results
            ratio = rate / loop_rate
            target = TARGETS.get(name) if count == 10_000 else None
            verdict = ""
            if target is not None:
                verdict = f"  (target ≥{target:.0f}×: {'met' if ratio >= target else 'MISSED'})"
                met = met and ratio >= target
            print(
                f"{name:<16} {count:>8,} {len(subset):>9,} {rate:>12,.0f} {ratio:>7.1f}×{verdict}"
            )
        if full["scrm matcher"] != full["scrm evaluation"]:
            raise SystemExit(f"MISMATCH: matcher and evaluation differ at {count} keywords")
        hits = sum(map(len, full["scrm matcher"]))
        print(f"{'':<16} {'':>8} hits/message {hits / len(messages):.2f}, all methods agree")
    return met


def main() -> None:
    """Generate the corpus and keyword sets, then run and report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=None, help="corpus size (100,000)")
    parser.add_argument("--quick", action="store_true", help="small run, under 30 s")
    args = parser.parse_args()
    size = args.messages or (20_000 if args.quick else 100_000)
    samples = (
        {100: 5_000, 1_000: 2_000, 10_000: 1_000}
        if args.quick
        else {100: size, 1_000: 20_000, 10_000: 5_000}
    )
    rng = random.Random(SEED)
    pool = make_pool(rng)
    vocabulary = list(dict.fromkeys(make_word(rng, pool) for _ in range(20_000)))
    messages = make_corpus(rng, pool, vocabulary, size)
    if any(normalize(text) != text for text in messages):
        raise SystemExit("corpus is not in normal form; the comparison would be unfair")
    largest = make_keywords(rng, pool, vocabulary, 10_000)
    keyword_sets = {count: largest[:count] for count in (100, 1_000, 10_000)}
    average = sum(map(len, messages)) / len(messages)
    print(f"corpus: {len(messages):,} messages, {average:.1f} characters on average, seed {SEED}")
    met = run(messages, keyword_sets, samples)
    print("targets at 10,000 keywords:", "met" if met else "MISSED")


if __name__ == "__main__":
    main()
