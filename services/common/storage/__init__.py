"""The MongoDB side: the connection and its indexes, the repositories over each collection, tenant
settings and erasure. The database is shared by the services, so its documents are read and written
only here."""
