"""Media: uploading a tenant's files to Meta for its numbers, and handing it the files its
customers sent, without the deployment's token ever leaving ingest (docs/api.md, "Media")."""
