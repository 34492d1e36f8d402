"""The original Flask design of the devmgr console, as a benchmark baseline.

Only what `make bench` measures: JSON login, the dashboard page and the
authenticated API reads /api/v1/me, /api/v1/system and /api/v1/interfaces,
written the way a typical Flask app does it:

- users in SQLite, one connection per request (flask.g, as in the Flask
  tutorial), werkzeug's generate_password_hash / check_password_hash;
- Flask's own signed-cookie session holding the user id, the user loaded
  from the database on every request (what flask-login's user_loader does);
- system facts from /proc, platform, shutil and socket, and interfaces from
  `ip -j -s addr show` through subprocess.run: a process per read. That is
  the original design's choice (it has no netlink library); the Go console
  and agent read netlink instead.

Run under gunicorn (see bench/cmd/devmgr-bench):
    gunicorn -w 2 -k gthread --threads 4 --certfile C --keyfile K app:app
Environment: BENCH_DATA_DIR (database directory), BENCH_SECRET_KEY.
Add a user: python3 app.py adduser NAME ROLE < password
"""

import functools
import json
import os
import platform
import shutil
import socket
import sqlite3
import subprocess
import sys
import time

from flask import Flask, abort, g, jsonify, render_template_string, request, session
from werkzeug.security import check_password_hash, generate_password_hash

DATA_DIR = os.environ.get("BENCH_DATA_DIR", ".")
DB_PATH = os.path.join(DATA_DIR, "flask-users.db")

app = Flask(__name__)
app.config.update(
    SECRET_KEY=os.environ.get("BENCH_SECRET_KEY") or os.urandom(32),
    SESSION_COOKIE_SECURE=True,
    SESSION_COOKIE_HTTPONLY=True,
    SESSION_COOKIE_SAMESITE="Strict",
)


def get_db():
    if "db" not in g:
        g.db = sqlite3.connect(DB_PATH)
        g.db.row_factory = sqlite3.Row
    return g.db


@app.teardown_appcontext
def close_db(_exc):
    db = g.pop("db", None)
    if db is not None:
        db.close()


def init_db(db):
    db.execute(
        "CREATE TABLE IF NOT EXISTS users ("
        " id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL,"
        " role TEXT NOT NULL, password_hash TEXT NOT NULL)"
    )
    db.commit()


def login_required(view):
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        uid = session.get("user_id")
        if uid is None:
            abort(401)
        user = get_db().execute("SELECT id, name, role FROM users WHERE id = ?", (uid,)).fetchone()
        if user is None:
            abort(401)
        g.user = user
        return view(*args, **kwargs)

    return wrapped


@app.get("/healthz")
def healthz():
    return "ok\n", 200, {"Content-Type": "text/plain; charset=utf-8"}


@app.post("/api/v1/login")
def login():
    body = request.get_json(silent=True) or {}
    user = get_db().execute(
        "SELECT id, name, role, password_hash FROM users WHERE name = ?", (body.get("username", ""),)
    ).fetchone()
    if user is None or not check_password_hash(user["password_hash"], body.get("password", "")):
        return jsonify(error="wrong username or password"), 401
    session.clear()
    session["user_id"] = user["id"]
    return jsonify(username=user["name"], role=user["role"], must_change_password=False)


def interfaces():
    out = subprocess.run(["ip", "-j", "-s", "addr", "show"], capture_output=True, text=True, check=True).stdout
    result = []
    for link in json.loads(out):
        flags = link.get("flags", [])
        stats = link.get("stats64", {})
        result.append(
            {
                "name": link["ifname"],
                "state": "down" if "UP" not in flags else ("up" if "LOWER_UP" in flags else "no-carrier"),
                "mac": link.get("address", ""),
                "mtu": link.get("mtu", 0),
                "addrs": [f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", [])],
                "rx_bytes": stats.get("rx", {}).get("bytes", 0),
                "tx_bytes": stats.get("tx", {}).get("bytes", 0),
            }
        )
    return result


def os_pretty_name():
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            with open(path) as f:
                for line in f:
                    k, _, v = line.strip().partition("=")
                    if k == "PRETTY_NAME":
                        return v.strip("\"'")
        except OSError:
            pass
    return "Linux"


def meminfo():
    m = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, _, v = line.partition(":")
            parts = v.split()
            if parts:
                m[k] = int(parts[0]) * (1024 if len(parts) > 1 and parts[1] == "kB" else 1)
    return m


def system():
    with open("/proc/uptime") as f:
        uptime = float(f.read().split()[0])
    mem = meminfo()
    disk = shutil.disk_usage("/")
    u = platform.uname()
    return {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "hostname": socket.gethostname(),
        "os": os_pretty_name(),
        "kernel": f"{u.system} {u.release}",
        "uptime_seconds": int(uptime),
        "load": list(os.getloadavg()),
        "mem_total": mem.get("MemTotal", 0),
        "mem_available": mem.get("MemAvailable", 0),
        "mem_used": mem.get("MemTotal", 0) - mem.get("MemAvailable", 0),
        "disk_path": "/",
        "disk_total": disk.total,
        "disk_free": disk.free,
        "disk_used": disk.used,
        "interfaces": interfaces(),
    }


DASHBOARD = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Dashboard - devmgr</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/bootstrap.min.css"></head>
<body><nav class="navbar"><span class="navbar-brand">devmgr</span>
<span class="navbar-text">{{ user.name }} ({{ user.role }})</span></nav>
<main class="container"><h1>Dashboard</h1>
<dl class="row">
<dt class="col-sm-3">Hostname</dt><dd class="col-sm-9">{{ s.hostname }}</dd>
<dt class="col-sm-3">OS</dt><dd class="col-sm-9">{{ s.os }}</dd>
<dt class="col-sm-3">Kernel</dt><dd class="col-sm-9">{{ s.kernel }}</dd>
<dt class="col-sm-3">Uptime</dt><dd class="col-sm-9">{{ s.uptime_seconds }} s</dd>
<dt class="col-sm-3">Load</dt><dd class="col-sm-9">{{ s.load|join(" ") }}</dd>
<dt class="col-sm-3">Memory</dt><dd class="col-sm-9">{{ s.mem_used }} of {{ s.mem_total }} bytes</dd>
<dt class="col-sm-3">Disk {{ s.disk_path }}</dt><dd class="col-sm-9">{{ s.disk_used }} of {{ s.disk_total }} bytes</dd>
</dl>
<table class="table"><thead><tr><th>Interface</th><th>State</th><th>MAC</th><th>MTU</th><th>Addresses</th></tr></thead>
<tbody>{% for i in s.interfaces %}<tr><td>{{ i.name }}</td><td>{{ i.state }}</td><td>{{ i.mac }}</td>
<td>{{ i.mtu }}</td><td>{{ i.addrs|join(", ") }}</td></tr>{% endfor %}</tbody></table>
</main></body></html>
"""


@app.get("/")
@login_required
def dashboard():
    return render_template_string(DASHBOARD, s=system(), user=g.user)


@app.get("/api/v1/me")
@login_required
def me():
    return jsonify(username=g.user["name"], role=g.user["role"])


@app.get("/api/v1/system")
@login_required
def api_system():
    return jsonify(system())


@app.get("/api/v1/interfaces")
@login_required
def api_interfaces():
    return jsonify(interfaces())


def main(argv):
    if len(argv) != 4 or argv[1] != "adduser":
        sys.exit("usage: app.py adduser NAME ROLE < password")
    password = sys.stdin.readline().rstrip("\r\n")
    db = sqlite3.connect(DB_PATH)
    init_db(db)
    db.execute(
        "INSERT INTO users (name, role, password_hash) VALUES (?, ?, ?)",
        (argv[2], argv[3], generate_password_hash(password)),
    )
    db.commit()
    db.close()


if __name__ == "__main__":
    main(sys.argv)
