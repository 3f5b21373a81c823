-- wrk script: client_credentials at /token (the yardstick's cheapest grant).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic YmVuY2g6YmVuY2gtc2VjcmV0LTAxMjM0NTY3ODktYWJjZGVmZ2hpag=="
wrk.body = "grant_type=client_credentials"
