"""ClickHouse for the tests, two generations: a real ``clickhouse-server`` (Debian's 18.16
package) started on free loopback ports with a data directory of its own, and ``chdb`` (a
current ClickHouse engine in this process) answering ClickHouse's HTTP interface on a
loopback port, so that the store's own HTTP client drives both."""

from __future__ import annotations

import http.server
import itertools
import os
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request

from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.settings import (
    read_store_settings,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._store.clickhouse import (
    create_schema,
)

from tests.support.ports import free_port

# The fixtures (tests/unit/plugins/module_utils/conftest.py) of each engine.
CLICKHOUSE_ENGINES = ("clickhouse_server", "chdb_engine")
SERVER = shutil.which("clickhouse-server") or "/usr/sbin/clickhouse-server"
WRITER_PASSWORD = "pass:word with 'quotes'"

_CONFIG = """<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>{dir}/server.log</log><errorlog>{dir}/error.log</errorlog>
    <console>0</console></logger>
  <http_port>{http}</http_port>
  <https_port>{https}</https_port>
  <tcp_port>{tcp}</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>{dir}/data/</path>
  <tmp_path>{dir}/data/tmp/</tmp_path>
  <user_files_path>{dir}/data/user_files/</user_files_path>
  <format_schema_path>{dir}/data/format_schemas/</format_schema_path>
  <users_config>{dir}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>5368709120</mark_cache_size>
  <timezone>UTC</timezone>
  <openSSL><server><certificateFile>{dir}/server.pem</certificateFile>
    <privateKeyFile>{dir}/server.key</privateKeyFile><verificationMode>none</verificationMode>
    <loadDefaultCAFile>false</loadDefaultCAFile></server></openSSL>
  <remote_servers><whotouched_test><shard><replica><host>127.0.0.1</host><port>{tcp}</port>
    </replica></shard></whotouched_test></remote_servers>
</yandex>
"""
# default: the schema's creator; writer: a user with a password, as a log server has
_USERS = """<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
  <users>
    <default><password></password><networks><ip>127.0.0.1</ip></networks>
      <profile>default</profile><quota>default</quota></default>
    <writer><password>{password}</password><networks><ip>127.0.0.1</ip></networks>
      <profile>default</profile><quota>default</quota></writer>
  </users>
  <quotas><default></default></quotas>
</yandex>
"""


def _xml_text(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace("'", "&apos;")


class ClickHouseServer(object):
    """A real ``clickhouse-server`` in ``directory``: ``url`` (HTTP), ``https_url`` (its
    certificate in ``ca_file``), the user ``writer`` with :data:`WRITER_PASSWORD`."""

    def __init__(self, directory):
        self.directory = str(directory)
        os.makedirs(self.directory, exist_ok=True)
        ports = {"http": free_port(), "https": free_port(), "tcp": free_port()}
        self.url = "http://127.0.0.1:%d/" % ports["http"]
        self.https_url = "https://127.0.0.1:%d/" % ports["https"]
        self.ca_file = os.path.join(self.directory, "server.pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
             "-keyout", os.path.join(self.directory, "server.key"), "-out", self.ca_file],
            check=True, capture_output=True)
        with open(os.path.join(self.directory, "config.xml"), "w") as handle:
            handle.write(_CONFIG.format(dir=self.directory, **ports))
        with open(os.path.join(self.directory, "users.xml"), "w") as handle:
            handle.write(_USERS.format(password=_xml_text(WRITER_PASSWORD)))
        self.process = None
        self.start()

    def start(self):
        """Start the server (again: the same ports, the same data)."""
        self.process = subprocess.Popen(
            [SERVER, "--config-file=%s" % os.path.join(self.directory, "config.xml")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ, TZ="UTC"))
        self.version = self._wait()

    def _wait(self, seconds=60):
        deadline = time.monotonic() + seconds
        while True:
            try:
                return self.query("SELECT version()").strip()
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("clickhouse-server did not start: %s" % self.log())
                time.sleep(0.1)

    def log(self):
        try:
            with open(os.path.join(self.directory, "error.log"), errors="replace") as handle:
                return handle.read()[-2000:]
        except OSError:
            return "(no error log)"

    def query(self, sql):
        """What the default user's ``sql`` answers (text)."""
        with urllib.request.urlopen(urllib.request.Request(
                self.url, data=sql.encode("utf-8"), method="POST"), timeout=30) as response:
            return response.read().decode("utf-8")

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class ChdbHttp(object):
    """chdb (a current ClickHouse engine, in this process) behind ClickHouse's HTTP
    interface on a loopback port: the statement in the ``query`` parameter followed by the
    request's body, or the body alone, in the ``database`` parameter's database.  An error
    is answered with status 500 and ClickHouse's message, as the server does."""

    def __init__(self):
        from chdb import session

        self.session = session.Session()
        self.version = self.session.query("SELECT version()", "TabSeparated").bytes().decode()\
            .strip()
        self.lock = threading.Lock()
        engine = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (the name http.server calls)
                params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                sql = body.decode("utf-8", "surrogateescape")
                if "query" in params:
                    sql = params["query"] + "\n" + sql
                status, answer = engine.run(params.get("database", "default"), sql)
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def run(self, database, sql):
        with self.lock:
            try:
                if database != "default":
                    self.session.query("USE %s" % database)
                result = self.session.query(sql, "TabSeparated")
                return 200, result.bytes() if result is not None else b""
            except Exception as exc:  # pylint: disable=broad-except
                return 500, str(exc).encode("utf-8", "replace")
            finally:
                self.session.query("USE default")

    def query(self, sql):
        return self.run("default", sql)[1].decode("utf-8")

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.session.close()


_DATABASES = itertools.count(1)


def new_database(engine, **settings):
    """The store settings of a new database on ``engine``, its schema created."""
    store = read_store_settings(dict({"backend": "clickhouse", "url": engine.url,
                                      "database": "test_%d" % next(_DATABASES)}, **settings))
    create_schema(store)
    return store
