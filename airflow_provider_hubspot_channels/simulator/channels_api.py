"""The Custom Channels endpoints: a channel, its channel accounts, publishing, reading and updating messages."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from .calls import Call
from .entities import DIRECTIONS, PATCHABLE_STATUS_TYPES, ChannelAccount, TransitionRefused
from .params import (
    bool_param,
    delivery_identifier,
    enum_value,
    int_param,
    json_object,
    limit_param,
    optional_key,
    optional_str,
    path_text,
    require,
    single,
)
from .responses import Reply, json_reply, not_found, validation_error
from .timefmt import parse_iso

ACCOUNTS_DEFAULT_LIMIT = 100


def _channel(call: Call, channel_id: int) -> None:
    if channel_id not in call.state.channels:
        raise not_found(f"Channel {channel_id} not found")


def _location(call: Call, *suffix: str) -> list[tuple[str, str]]:
    return [("Location", call.ctx.base_url + "/".join((call.path, *(quote(s, safe="") for s in suffix))))]


# ----------------------------------------------------------------------------------------- custom channels


def get_channel(call: Call) -> Reply:
    """``GET .../{channelId}``.

    :param call: the call.
    """
    channel_id = int_param(call.params[0], "channelId", 32)
    state = call.state
    with state.lock:
        channel = state.channels.get(channel_id)
        if channel is None:
            raise not_found(f"Channel {channel_id} not found")
        return json_reply(200, channel.to_json())


def list_channel_accounts(call: Call) -> Reply:
    """``GET .../{channelId}/channel-accounts``.

    :param call: the call.
    """
    channel_id = int_param(call.params[0], "channelId", 32)
    limit = limit_param(call.query, ACCOUNTS_DEFAULT_LIMIT)
    archived = bool_param(call.query, "archived", False)
    after_text = single(call.query, "after")
    after = int_param(after_text, "after", 64) if after_text else None
    state = call.state
    with state.lock:
        _channel(call, channel_id)
        accounts = sorted(
            (a for a in state.accounts.values() if a.channel_id == channel_id and a.archived == archived),
            key=lambda a: a.id,
        )
        total = len(accounts)
        if after is not None:
            accounts = [a for a in accounts if a.id > after]
        page = accounts[:limit]
        payload: dict[str, Any] = {"total": total, "results": [a.to_json() for a in page]}
        if len(accounts) > limit:
            payload["paging"] = {"next": {"after": str(page[-1].id)}}
        return json_reply(200, payload)


def get_channel_account(call: Call) -> Reply:
    """``GET .../{channelId}/channel-accounts/{channelAccountId}``.

    :param call: the call.
    """
    channel_id = int_param(call.params[0], "channelId", 32)
    account_id = int_param(call.params[1], "channelAccountId", 64)
    state = call.state
    with state.lock:
        _channel(call, channel_id)
        account = state.accounts.get(account_id)
        if account is None or account.channel_id != channel_id:
            raise not_found(f"Channel account {account_id} not found in channel {channel_id}")
        return json_reply(200, account.to_json())


def create_channel_account(call: Call) -> Reply:
    """``POST .../{channelId}/channel-accounts`` with ``PublicChannelAccountEgg``.

    :param call: the call.
    """
    channel_id = int_param(call.params[0], "channelId", 32)
    data = json_object(call.body, "PublicChannelAccountEgg")
    require(data, "PublicChannelAccountEgg", {"name": str, "inboxId": str, "authorized": bool})
    inbox_id = int_param(data["inboxId"], "inboxId", 32)
    ident = data.get("deliveryIdentifier")
    delivery = delivery_identifier(ident, "deliveryIdentifier") if ident is not None else None
    state = call.state
    with state.lock:
        _channel(call, channel_id)
        if inbox_id not in state.inboxes:
            raise validation_error(f"Inbox {inbox_id} does not exist", where="inboxId", code="INVALID_REFERENCE")
        account = state.add_channel_account(
            channel_id,
            inbox_id=inbox_id,
            name=data["name"],
            delivery_identifier=delivery
            or {"type": "CHANNEL_SPECIFIC_OPAQUE_ID", "value": f"account-{len(state.accounts) + 1}"},
            authorized=data["authorized"],
        )
    return json_reply(201, account, _location(call, account["id"]))


def publish_message(call: Call) -> Reply:
    """``POST .../{channelId}/messages`` with ``ChannelIntegrationMessageEgg``.

    :param call: the call.
    """
    channel_id = int_param(call.params[0], "channelId", 32)
    schema = "ChannelIntegrationMessageEgg"
    data = json_object(call.body, schema)
    require(
        data,
        schema,
        {
            "text": str,
            "messageDirection": str,
            "channelAccountId": str,
            "senders": list,
            "recipients": list,
            "attachments": list,
            "timestamp": str,
        },
    )
    direction = enum_value(data["messageDirection"], "messageDirection", DIRECTIONS)
    try:
        timestamp = parse_iso(data["timestamp"])
    except ValueError as exc:
        raise validation_error(str(exc), where="timestamp", code="INVALID_DATE_TIME") from exc
    participants: dict[str, list[dict[str, Any]]] = {}
    for side in ("senders", "recipients"):
        participants[side] = []
        for index, participant in enumerate(data[side]):
            where = f"{side}[{index}]"
            if not isinstance(participant, dict):
                raise validation_error(f"{where} must be an object", where=where, code="INVALID_TYPE")
            for name in ("name", "senderActorId"):
                optional_str(participant, name, where=f"{where}.{name}")
            clean = dict(participant)
            clean["deliveryIdentifier"] = delivery_identifier(
                participant.get("deliveryIdentifier"), f"{where}.deliveryIdentifier"
            )
            participants[side].append(clean)
    rich_text = optional_str(data, "richText")
    thread_key = optional_key(data, "integrationThreadId")
    idempotency = optional_key(data, "integrationIdempotencyId")
    account_id = int_param(data["channelAccountId"], "channelAccountId", 64)
    state = call.state
    with state.lock:
        _channel(call, channel_id)
        account: ChannelAccount | None = state.accounts.get(account_id)
        if account is None or account.channel_id != channel_id:
            raise validation_error(
                f"Channel account {account_id} does not belong to channel {channel_id}",
                where="channelAccountId",
                code="INVALID_REFERENCE",
            )
        message = state.publish(
            channel_id,
            account,
            direction=direction,
            text=data["text"],
            rich_text=rich_text,
            timestamp=timestamp,
            senders=participants["senders"],
            recipients=participants["recipients"],
            integration_thread_id=thread_key,
            idempotency_id=idempotency,
        )
        return json_reply(201, message.to_json(), _location(call, message.id))


def get_message(call: Call) -> Reply:
    """``GET .../{channelId}/messages/{messageId}``.

    :param call: the call.
    """
    channel_id = int_param(call.params[0], "channelId", 32)
    message_id = path_text(call.params[1], "messageId")
    state = call.state
    with state.lock:
        _channel(call, channel_id)
        message = state.find_message(channel_id, message_id)
        if message is None:
            raise not_found(f"Message {message_id} not found in channel {channel_id}")
        return json_reply(200, message.to_json())


def patch_message(call: Call) -> Reply:
    """``PATCH .../{channelId}/messages/{messageId}`` with ``{"statusType", "errorMessage"}``.

    :param call: the call.
    """
    channel_id = int_param(call.params[0], "channelId", 32)
    message_id = path_text(call.params[1], "messageId")
    schema = "PublicChannelIntegrationMessageUpdateRequest"
    data = json_object(call.body, schema)
    require(data, schema, {"statusType": str})
    status_type = enum_value(data["statusType"], "statusType", PATCHABLE_STATUS_TYPES)
    error_message = optional_str(data, "errorMessage")
    state = call.state
    with state.lock:
        _channel(call, channel_id)
        message = state.find_message(channel_id, message_id)
        if message is None:
            raise not_found(f"Message {message_id} not found in channel {channel_id}")
        try:
            state.patch_status(message, status_type, error_message)
        except TransitionRefused as exc:
            raise validation_error(
                f"Cannot change the status of message {message_id} from {exc.previous} to {exc.requested}",
                where="statusType",
                code="INVALID_STATUS_TRANSITION",
                sub_category="INVALID_STATUS_TRANSITION",
            ) from exc
        return json_reply(200, message.to_json())
