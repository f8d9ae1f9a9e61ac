"""The pure reconciliation domain: what HubSpot is to show for each message, so it agrees with the integrator.

No I/O, no Airflow, no HTTP: a batch comes in, :func:`plan` (or :func:`iter_updates` for explicit status updates)
decides per message, the runner acts on the ``WRITE`` decisions under the transition rules of :mod:`.transitions`,
and :class:`RunReport` sums up the outcomes.

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
    Action,
    Decision,
    Mode,
    iter_plan,
    plan,
    refuse_named_accounts,
)
from airflow_provider_hubspot_channels.reconciliation.explanation import (
    DEFAULT_CARRIER_ERROR_MESSAGE_TEMPLATE,
    DEFAULT_ERROR_MESSAGE_TEMPLATE,
    TEMPLATE_FIELDS,
    describe_duration,
    format_utc,
    render_error_message,
    validate_template,
)
from airflow_provider_hubspot_channels.reconciliation.outcomes import Outcome
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
from airflow_provider_hubspot_channels.reconciliation.transitions import (
    DRY_RUN_TWINS,
    WRITE_OUTCOMES,
    Cause,
    Target,
    Verdict,
    after_write,
    hubspot_status_type,
    judge,
    write_outcome,
)
from airflow_provider_hubspot_channels.reconciliation.updates import iter_updates

__all__ = [
    "DEFAULT_CARRIER_ERROR_MESSAGE_TEMPLATE",
    "DEFAULT_ERROR_MESSAGE_TEMPLATE",
    "DRY_RUN_TWINS",
    "SUMMARY_MAX_BYTES",
    "TEMPLATE_FIELDS",
    "WRITE_OUTCOMES",
    "Action",
    "Cause",
    "Decision",
    "DeliveryStatus",
    "InvalidRecord",
    "MessageOutcome",
    "MessageRecord",
    "Mode",
    "Outcome",
    "RunReport",
    "StalenessPolicy",
    "Target",
    "Verdict",
    "after_write",
    "check_reference_time",
    "decision_outcome",
    "describe_duration",
    "format_table",
    "format_utc",
    "hubspot_status_type",
    "iter_plan",
    "iter_updates",
    "judge",
    "parse_batch",
    "parse_duration",
    "parse_record",
    "parse_reference_time",
    "parse_timestamp",
    "plan",
    "refuse_named_accounts",
    "render_error_message",
    "validate_template",
    "write_outcome",
]
