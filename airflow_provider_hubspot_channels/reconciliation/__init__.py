"""The pure reconciliation domain: which unconfirmed messages to mark FAILED in HubSpot, and why.

No I/O, no Airflow, no HTTP: a batch comes in, :func:`plan` decides per message, the runner acts on the
``MARK_FAILED`` decisions, and :class:`RunReport` sums up the outcomes.

Decisions, detailed in each module:

* Naive datetimes and offset-less ISO strings are refused, numbers are epoch milliseconds
  (:mod:`.timestamps`).
* Invalid rows are reported in place and the rest of the batch proceeds (:mod:`.records`).
* Duplicates are merged: a receipt anywhere settles the message, the earliest ``created_at`` counts
  (:mod:`.decisions`).
* A message is stale when pending and created at or before ``reference_time - stale_after``
  (:mod:`.policy`).
* The explanation agents read is capped at 500 characters: carrier text is shortened first, then the
  whole text is cut with ``…`` (:mod:`.explanation`).
* The summary stays under 10 KB whatever the batch (:mod:`.report`).
"""

from airflow_provider_hubspot_channels.reconciliation.decisions import (
    TERMINAL_HUBSPOT_STATUSES,
    Action,
    Decision,
    Outcome,
    hubspot_status_type,
    iter_plan,
    outcome_after_lookup,
    plan,
)
from airflow_provider_hubspot_channels.reconciliation.explanation import (
    DEFAULT_ERROR_MESSAGE_TEMPLATE,
    TEMPLATE_FIELDS,
    describe_duration,
    format_utc,
    render_error_message,
    validate_template,
)
from airflow_provider_hubspot_channels.reconciliation.policy import StalenessPolicy
from airflow_provider_hubspot_channels.reconciliation.records import (
    DeliveryStatus,
    InvalidRecord,
    MessageRecord,
    parse_batch,
    parse_record,
)
from airflow_provider_hubspot_channels.reconciliation.report import (
    SUMMARY_MAX_BYTES,
    MessageOutcome,
    RunReport,
    decision_outcome,
    format_table,
)
from airflow_provider_hubspot_channels.reconciliation.timestamps import (
    check_reference_time,
    parse_duration,
    parse_reference_time,
    parse_timestamp,
)

__all__ = [
    "DEFAULT_ERROR_MESSAGE_TEMPLATE",
    "SUMMARY_MAX_BYTES",
    "TEMPLATE_FIELDS",
    "TERMINAL_HUBSPOT_STATUSES",
    "Action",
    "Decision",
    "DeliveryStatus",
    "InvalidRecord",
    "MessageOutcome",
    "MessageRecord",
    "Outcome",
    "RunReport",
    "StalenessPolicy",
    "check_reference_time",
    "decision_outcome",
    "describe_duration",
    "format_table",
    "format_utc",
    "hubspot_status_type",
    "iter_plan",
    "outcome_after_lookup",
    "parse_batch",
    "parse_duration",
    "parse_record",
    "parse_reference_time",
    "parse_timestamp",
    "plan",
    "render_error_message",
    "validate_template",
]
