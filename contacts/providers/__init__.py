"""Skip-trace providers: who owns a parcel, and how to reach them, from a paid vendor.

A provider takes `TraceSubject`s (a parcel id, the owner's name and mailing address) and gives
back `contacts.vendor_csv.VendorRow`s, the same shape a vendor CSV file reads into, so
validation, linking, deduplication, storage and the DNC scrub are shared with
`wholesaler contacts import`. Two ways in:

- an API: `HttpSkipTraceProvider` (`contacts.providers.http_api`), the JSON shape documented
  in docs/contacts.md ("Skip-trace providers");
- a file: `write_trace_request_csv` (`contacts.providers.batch_file`) writes the subjects in
  the columns vendors accept; the vendor's returned file goes through
  `wholesaler contacts import`.

Results from an API are also written as a vendor CSV (`write_vendor_rows_csv`), so the raw
answer is kept as a file, imported like any other, and a re-import adds nothing.
"""

from contacts.providers.base import (
    SkipTraceError,
    SkipTraceProvider,
    TraceResult,
    TraceSubject,
)
from contacts.providers.batch_file import write_trace_request_csv, write_vendor_rows_csv
from contacts.providers.http_api import HttpSkipTraceProvider

__all__ = ["HttpSkipTraceProvider", "SkipTraceError", "SkipTraceProvider", "TraceResult",
           "TraceSubject", "write_trace_request_csv", "write_vendor_rows_csv"]
