"""PynamoDB settings for `chalice local` (PYNAMODB_CONFIG, set by scripts/chalice_local.py).

`chalice local` serves each connection on its own thread, and all of them share
PynamoDB's botocore clients. Their connection pool holds 10 connections by
default: with more requests in flight, every extra connection to the backend
is opened for one call and thrown away. On Lambda one request runs at a time
per container, so the default stays there.
"""

max_pool_connections = 128
