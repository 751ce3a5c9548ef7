"""`archive verify`: prove the archive is whole, not only that what is present is intact.

One line per problem, naming the partition, conversation, position, record and what is wrong:

* checkpoints (`checkpoints`): every signature, the checkpoint chain (seq and ``prev`` links)
  and every signing run complete, so a deleted checkpoint shows;
* partitions (`whole`): every partition a checkpoint names still exists; one without its data
  key was shredded by a retention run the audit log names; ``month_end`` is the one its name
  implies; no record points at a partition row that is gone;
* records (`partition`): GCM tags, hash chains, chain head rows, and the newest signed head of
  each chain (`signed_heads`);
* the index (`index`): conversation, hour, msgtype, participants and blind-index tokens
  (PostgreSQL's ``tokens`` column, SQLite's ``archive_postings``) recomputed from each
  decrypted message, so a missing or altered index row — which would hide the record from
  searches — shows;
* the audit log (`audit`): its chain, its head row and its signed heads.
"""

from archive.integrity.verify.checkpoints import newest_checkpoint
from archive.integrity.verify.whole import verify_archive

__all__ = ["newest_checkpoint", "verify_archive"]
