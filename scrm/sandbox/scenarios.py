"""Things a customer or a staff member does in the WeCom client, played end to end: the
sandbox's state changes and the matching callback goes to the service."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from scrm.sandbox import events
from scrm.sandbox.sender import CallbackSender, Delivery
from scrm.sandbox.state import Relation, SandboxState


@dataclass(frozen=True)
class AddContactResult:
    relation: Relation
    welcome_code: str | None
    delivery: Delivery | None  # None when no callback URL is configured


async def add_contact(
    state: SandboxState,
    sender: CallbackSender | None,
    userid: str | None = None,
    *,
    external_userid: str | None = None,
    name: str = "客户",
    contact_state: str | None = None,
    config_id: str | None = None,
    welcome: bool = True,
    create_time: int | None = None,
    remark_mobiles: Sequence[str] = (),
) -> AddContactResult:
    """A customer adds ``userid`` (or scans contact way ``config_id``, which supplies the member
    and the ``state``): record the relation, issue a welcome code, send add_external_contact.

    ``remark_mobiles`` are the numbers the member noted (or added the customer by)."""
    if config_id is not None:
        way = state.contact_ways[config_id]
        userid = userid or way["user"][0]
        contact_state = contact_state if contact_state is not None else way.get("state")
    if userid is None:
        raise ValueError("userid or config_id is required")
    customer = state.customers.get(external_userid or "") or state.add_customer(
        external_userid, name
    )
    created = create_time or state.now()
    relation = state.add_relation(
        userid,
        customer.external_userid,
        createtime=created,
        state=contact_state or None,
        remark_mobiles=list(remark_mobiles),
    )
    code = state.issue_welcome_code(userid, customer.external_userid) if welcome else None
    xml = events.add_external_contact(
        state.config.corp_id,
        userid,
        customer.external_userid,
        state=contact_state or None,
        welcome_code=code,
        create_time=created,
    )
    delivery = await sender.send(xml) if sender is not None else None
    return AddContactResult(relation, code, delivery)


async def edit_contact(
    state: SandboxState,
    sender: CallbackSender | None,
    userid: str,
    external_userid: str,
    *,
    remark: str | None = None,
    description: str | None = None,
    remark_mobiles: Sequence[str] | None = None,
    create_time: int | None = None,
) -> Delivery | None:
    """The member edits the customer's remark, description or remark mobiles (备注手机号) in the
    WeCom client: the relation changes and edit_external_contact goes to the service. Like
    WeCom's ``externalcontact/remark``, given mobiles replace the old ones; ``[]`` clears them."""
    relation = state.relation(userid, external_userid)
    if relation is None:
        raise ValueError(f"{userid} does not follow {external_userid}")
    if remark is not None:
        relation.remark = remark
    if description is not None:
        relation.description = description
    if remark_mobiles is not None:
        relation.remark_mobiles = list(remark_mobiles)
    xml = events.edit_external_contact(
        state.config.corp_id, userid, external_userid, create_time=create_time
    )
    return await sender.send(xml) if sender is not None else None


async def remove_contact(
    state: SandboxState,
    sender: CallbackSender | None,
    userid: str,
    external_userid: str,
    *,
    by_customer: bool = False,
    create_time: int | None = None,
) -> Delivery | None:
    """The member deletes the customer (del_external_contact) or, ``by_customer``, the customer
    deletes the member (del_follow_user, the record stays)."""
    relation = state.relations[(userid, external_userid)]
    corp_id = state.config.corp_id
    if by_customer:
        relation.deleted_by_customer = True
        xml = events.del_follow_user(corp_id, userid, external_userid, create_time=create_time)
    else:
        relation.deleted_by_staff = True
        xml = events.del_external_contact(corp_id, userid, external_userid, create_time=create_time)
    return await sender.send(xml) if sender is not None else None
