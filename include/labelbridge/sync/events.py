"""Bucket object events, read from each cloud's message format into one :class:`ObjectEvent`.

A storage may subscribe to its bucket's events (S3 event notifications to SQS, directly or
through EventBridge; GCS Pub/Sub notifications; Azure Event Grid to a Storage Queue). Each
message names objects that were created, overwritten or deleted; :mod:`.keyed` syncs just those.

Delivery is at least once and unordered on every cloud, so each event carries an ``order``: a
string that compares, for events on the *same* key, as the events happened (S3 and Azure:
the ``sequencer``, left-padded as AWS documents; GCS: the generation, then the kind of event,
then the metageneration). An event is applied only if its order is above the last applied for
its key, so a duplicate or a late, older event changes nothing.

Parsers are pure: they take the message body (and, for Pub/Sub, its attributes) and return
events, or raise :class:`EventFormatError` saying what is wrong, so a bad message is set aside
without stopping the others.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote_plus

from labelbridge.errors import LabelbridgeError

Action = Literal["put", "delete"]

#: Sequencers are hex strings of varying length: left-padded to this width they compare as text.
_ORDER_WIDTH = 40
_RANK = {"put": "0", "delete": "1"}


class EventFormatError(LabelbridgeError):
    """A queue message that is not an object event this storage's cloud sends."""


@dataclass(frozen=True)
class ObjectEvent:
    """One object created/overwritten (``put``) or deleted (``delete``) in a bucket.

    :param order: compares as the events on this key happened; ``""`` when the cloud gave none.
    :param etag: the new object's ETag (MD5 or other entity tag), for a put.
    :param version: the version the listing reports too (GCS: the generation); else ``None``.
    """

    bucket: str
    key: str
    action: Action
    order: str
    etag: str | None = None
    size: int | None = None
    version: str | None = None

    def newer_than(self, other: ObjectEvent | None) -> bool:
        return other is None or self.order > other.order


def _hex_order(sequencer: str, action: Action) -> str:
    # AWS: "left pad the shorter value with zeros, and then do a lexicographical comparison".
    return sequencer.upper().rjust(_ORDER_WIDTH, "0") + _RANK[action]


def _time_order(event_time: str, action: Action) -> str:
    # No sequencer (moto omits it): the event time, a delete winning a tie. Weaker; documented.
    return "T" + event_time + _RANK[action]


# S3 ------------------------------------------------------------------------------------------


def parse_s3_message(body: str) -> list[ObjectEvent]:
    """Events of one SQS message from S3: the notification itself, wrapped by SNS, or EventBridge's.

    Follows https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html
    and https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html (EventBridge). The
    ``s3:TestEvent`` S3 sends when notifications are configured yields no event.
    """
    doc = _json(body)
    if doc.get("Type") == "Notification" and isinstance(doc.get("Message"), str):  # through SNS
        doc = _json(doc["Message"])
    if doc.get("Event") == "s3:TestEvent":
        return []
    if doc.get("source") == "aws.s3" and "detail" in doc:
        return [_s3_eventbridge(doc)]
    records = doc.get("Records")
    if not isinstance(records, list):
        raise EventFormatError("not an S3 event notification: no Records, no EventBridge detail")
    return [event for record in records if (event := _s3_record(record)) is not None]


def _s3_record(record: Any) -> ObjectEvent | None:
    try:
        name = str(record["eventName"])
        s3 = record["s3"]
        obj = s3["object"]
        bucket = str(s3["bucket"]["name"])
        key = unquote_plus(str(obj["key"]))  # S3 URL-encodes keys in notifications
    except (KeyError, TypeError) as exc:
        raise EventFormatError(f"S3 event record lacks {exc}") from None
    if name.startswith("ObjectCreated:"):
        action: Action = "put"
    elif name.startswith("ObjectRemoved:"):
        if name == "ObjectRemoved:DeleteMarkerCreated" or name.startswith("ObjectRemoved:Delete"):
            action = "delete"
        else:
            return None
    else:
        return None  # restores, replication, lifecycle transitions: the object's content is unchanged
    sequencer = obj.get("sequencer")
    order = _hex_order(sequencer, action) if sequencer else _time_order(str(record.get("eventTime", "")), action)
    # No version: the listing (list_objects_v2) reports none, and the two must agree on a task's version.
    return ObjectEvent(bucket, key, action, order, etag=obj.get("eTag"), size=_int(obj.get("size")))


def _s3_eventbridge(doc: Mapping[str, Any]) -> ObjectEvent:
    detail = doc["detail"]
    kind = doc.get("detail-type")
    if kind not in ("Object Created", "Object Deleted"):
        raise EventFormatError(f"EventBridge detail-type {kind!r} is not Object Created/Deleted; filter the rule")
    try:
        bucket = str(detail["bucket"]["name"])
        obj = detail["object"]
        key = str(obj["key"])  # EventBridge does not URL-encode keys
    except (KeyError, TypeError) as exc:
        raise EventFormatError(f"EventBridge S3 event lacks {exc}") from None
    action: Action = "put" if kind == "Object Created" else "delete"
    sequencer = obj.get("sequencer")
    order = _hex_order(sequencer, action) if sequencer else _time_order(str(doc.get("time", "")), action)
    return ObjectEvent(bucket, key, action, order, etag=obj.get("etag"), size=_int(obj.get("size")))


# GCS -----------------------------------------------------------------------------------------


def parse_gcs_message(attributes: Mapping[str, str], data: str | bytes | None = None) -> list[ObjectEvent]:
    """Events of one Pub/Sub message of a GCS notification configuration.

    Follows https://cloud.google.com/storage/docs/pubsub-notifications: the attributes carry
    ``eventType``, ``bucketId``, ``objectId``, ``objectGeneration``; the data (JSON API payload,
    base64 as Pub/Sub delivers it, or already decoded) carries ``metageneration``, ``md5Hash``
    and ``size``. An overwrite sends OBJECT_FINALIZE of the new generation and OBJECT_DELETE
    (with ``overwrittenByGeneration``) of the old: that delete is not a deletion.
    """
    kind = attributes.get("eventType")
    try:
        bucket, key, generation = attributes["bucketId"], attributes["objectId"], int(attributes["objectGeneration"])
    except (KeyError, ValueError) as exc:
        raise EventFormatError(f"GCS notification attributes lack a valid {exc}") from None
    if kind == "OBJECT_FINALIZE":
        action: Action = "put"
    elif kind == "OBJECT_DELETE" and "overwrittenByGeneration" not in attributes:
        action = "delete"
    else:
        return []  # metadata updates and archivals leave the content as it was
    payload = _gcs_payload(data)
    metageneration = _int(payload.get("metageneration")) or 0
    order = f"{generation:020d}{_RANK[action]}{metageneration:020d}"
    return [ObjectEvent(bucket, key, action, order, etag=payload.get("md5Hash") or payload.get("etag"),
                        size=_int(payload.get("size")), version=str(generation))]


def _gcs_payload(data: str | bytes | None) -> dict[str, Any]:
    if not data:
        return {}  # payload_format NONE
    raw = data if isinstance(data, bytes) else data.encode()
    if not raw.lstrip().startswith(b"{"):
        try:
            raw = base64.b64decode(raw, validate=True)
        except binascii.Error:
            raise EventFormatError("GCS notification data is neither JSON nor base64") from None
    return _json(raw.decode("utf-8", "replace"))


# Azure ---------------------------------------------------------------------------------------


def parse_azure_message(content: str) -> list[ObjectEvent]:
    """Events of one Storage Queue message from an Event Grid subscription.

    Follows https://learn.microsoft.com/azure/event-grid/event-schema-blob-storage (Event Grid
    and CloudEvents schemas): Event Grid writes the event JSON to the queue base64-encoded. The
    blob's container and name come from ``subject`` (``/blobServices/default/containers/<c>/blobs/<name>``).
    """
    text = content.strip()
    if not text.startswith(("{", "[")):
        try:
            text = base64.b64decode(text, validate=True).decode("utf-8", "replace")
        except binascii.Error:
            raise EventFormatError("Storage Queue message is neither JSON nor base64") from None
    doc = _json_any(text)
    events = doc if isinstance(doc, list) else [doc]
    return [event for item in events if (event := _azure_event(item)) is not None]


def _azure_event(item: Any) -> ObjectEvent | None:
    if not isinstance(item, dict):
        raise EventFormatError("Event Grid event is not an object")
    kind = item.get("eventType") or item.get("type")  # Event Grid schema, CloudEvents schema
    if kind == "Microsoft.Storage.BlobCreated":
        action: Action = "put"
    elif kind == "Microsoft.Storage.BlobDeleted":
        action = "delete"
    else:
        return None
    subject = str(item.get("subject", ""))
    marker = "/containers/"
    head, _, rest = subject.partition(marker)
    container, sep, name = rest.partition("/blobs/")
    if not head.endswith("/blobServices/default") or not sep or not name:
        raise EventFormatError(f"Event Grid subject {subject!r} does not name a container and blob")
    data = item.get("data") or {}
    sequencer = data.get("sequencer")
    if not sequencer:
        raise EventFormatError("Event Grid blob event has no data.sequencer")
    return ObjectEvent(container, name, action, _hex_order(str(sequencer), action), etag=data.get("eTag"),
                       size=_int(data.get("contentLength")))


# --------------------------------------------------------------------------------------------


def _json(text: str | bytes) -> dict[str, Any]:
    doc = _json_any(text)
    if not isinstance(doc, dict):
        raise EventFormatError("message is JSON but not an object")
    return doc


def _json_any(text: str | bytes) -> Any:
    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise EventFormatError(f"message is not JSON ({exc.__class__.__name__}: {str(exc)[:80]})") from None


def _int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None
