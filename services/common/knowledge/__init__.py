"""A tenant's knowledge base: documents read from files, chunked, embedded and stored per tenant.

`documents` reads sources (Markdown, JSON article lists, ABCD agent guidelines) into documents and
splits them into passages; `repo` stores them in the database; `ingest` ties both to the shared
multilingual encoder; `index` ranks passages for a question. The generator retrieves through `index`;
operators load knowledge with `cs kb ingest`.
"""
