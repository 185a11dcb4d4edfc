# A user with 100 tasks on a running server: prints its access token and the task ids
# (comma-separated), for bench/server.sh.
# Usage: python3 bench/bench_user.py BASE_URL
import json, sys, urllib.request, urllib.parse, uuid
base = sys.argv[1] + "/api/v1"
def call(method, path, body=None, form=None, token=None):
    headers = {}
    data = None
    if body is not None:
        data = json.dumps(body).encode(); headers["content-type"] = "application/json"
    if form is not None:
        data = urllib.parse.urlencode(form).encode(); headers["content-type"] = "application/x-www-form-urlencoded"
    if token: headers["authorization"] = "Bearer " + token
    req = urllib.request.Request(base + path, data=data, headers=headers, method=method)
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read() or b"null")
u = uuid.uuid4().hex[:10]
email = f"cg{u}@example.com"
call("POST", "/auth/register", {"email": email, "password": "correct horse battery", "username": "cg" + u})
tok = call("POST", "/auth/login", form={"username": email, "password": "correct horse battery"})["access_token"]
ids = [call("POST", "/tasks", {"title": f"bench task {i}", "description": "created by loadtest.py", "status": "todo"}, token=tok)["id"] for i in range(100)]
print(tok, ",".join(ids))
