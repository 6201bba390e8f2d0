"""Owner contacts: a storage-free library that validates, parses and deduplicates contact data.

Modules (each documented at its top; docs/contacts.md is the overview):

- ``phones``: phone normalisation and validation with ``phonenumbers`` (E.164, type, reasons),
  the fictional 555-01xx rule, area-code states and time zones.
- ``emails``: email syntax and normalisation (``email-validator``) and domain checks
  (MX, null MX, A/AAAA fallback) through ``dnspython`` with a per-domain cache.
- ``local_dns``: a static DNS server on loopback for tests and the demo (``dnslib``).
- ``dnc``: do-not-call files (FTC full and change lists, Florida, internal, litigator) and the
  registry staleness rule.
- ``vendor_csv``: skip-trace vendor CSV files into typed rows, with a rejects list.
- ``dedupe`` and ``confidence``: contacts per owner, linked to parcels, with a score.
- ``sample``: a deterministic vendor-style skip-trace CSV for the sample markets.
- ``bulk``: helpers for making millions of records fast (collector pause, frozen-record
  constructors); docs/benchmarks.md has the figures.

Nothing here opens a database: inputs are frozen dataclasses or files, outputs are dataclasses.
"""
