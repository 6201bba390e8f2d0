"""Property-appraiser parcel pages: read owner names, mailing address and building facts for a
parcel id from the county appraiser's website.

`records` holds what a scrape returns and the typed errors, `extract` turns a page's HTML into
a record (shared by both fetchers) and recognises bot walls and not-found pages, `scraper`
fetches pages: httpx for static HTML, Playwright on Debian's Chromium for JavaScript pages.
The site of each market is configured in its YAML (`appraiser`, see markets/schema.py and
docs/appraiser_pages.md). Nothing here imports Playwright until a JavaScript site is scraped.
"""
