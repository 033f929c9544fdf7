"""CLI: migrate, import-magec (ids kept, legacy fields migrated), config loading."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from magec.config import expand_env, load_config
from magec.errors import ConfigError
from magec.testing.apps import running_apps
from magec.testing.services import Postgres

MAGEC_STORE = {
    "settings": {"sessionProvider": "", "longTermProvider": "mem-1"},
    "backends": [
        {"id": "b-ollama", "name": "Ollama", "type": "openai", "url": "http://ollama:11434/v1"},
        {"id": "b-openai", "name": "OpenAI", "type": "openai", "apiKey": "${OPENAI_API_KEY}"},
        {"id": "b-tts", "name": "Edge TTS", "type": "openai", "url": "http://tts:5050", "apiKey": "literal-key-xyz"},
    ],
    "memoryProviders": [{"id": "mem-1", "name": "PG", "type": "postgres", "category": "longterm",
                         "config": {"connectionString": "postgres://u:p@db/magec"},
                         "embedding": {"backend": "b-ollama", "model": "nomic-embed-text"}}],
    "mcpServers": [{"id": "mcp-1", "name": "HA", "endpoint": "http://ha:8123/mcp"}],
    "skills": [{"id": "s-1", "name": "skill"}],
    "agents": [{"id": "ag-1", "name": "Magec", "llm": {"backend": "b-ollama", "model": "qwen3:8b"},
                "tts": {"backend": "b-tts", "model": "tts-1", "voice": "nova", "speed": 1.25},
                "mcpServers": ["mcp-1"], "skills": ["s-1"]}],
    "flows": [{"id": "fl-1", "name": "Pipe", "root": {"type": "sequential", "steps": [
        {"type": "agent", "agentId": "ag-1", "responseAgent": True}]}}],
    "clients": [{"id": "cl-1", "name": "Voice UI", "type": "direct", "token": "mgc_existingtoken123456",
                 "allowedAgents": ["ag-1", "fl-1"], "enabled": True}],
    "commands": [{"id": "cmd-1", "name": "Daily", "prompt": "Summarise"}],
    "secrets": [{"id": "sec-1", "name": "OpenAI", "key": "OPENAI_API_KEY", "value": "enc:v1:opaque"}],
}


def magec(*args: str, cwd: Path, columns: str = "400") -> subprocess.CompletedProcess[str]:
    # wide enough that rich does not wrap a path or a report line (test_lines_are_never_wrapped: 80)
    env = {**os.environ, "COLUMNS": columns}
    return subprocess.run([sys.executable, "-m", "magec", *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env=env)


def write_config(tmp_path: Path, db_url: str) -> Path:
    cfg = tmp_path / "config.yaml"
    from magec.testing.services import free_port

    # ports of its own: `serve` binds before it opens the database, and 8080 may be taken here
    cfg.write_text(f"server: {{encryptionKey: k, port: {free_port()}, adminPort: {free_port()}}}\n"
                   f"dataDir: {tmp_path / 'data'}\ndatabase: {{url: \"{db_url}\"}}\n")
    return cfg


def test_migrate(tmp_path: Path, db_url: str) -> None:
    """It says which database it migrated, with no password in what it prints."""
    if db_url.startswith("postgresql"):  # the test server trusts its socket: any password connects
        db_url = re.sub(r"://([^:/@]+):?[^@/]*@", r"://\1:pg-pass-canary-91@", db_url, count=1)
        assert "pg-pass-canary-91" in db_url
    cfg = write_config(tmp_path, db_url)
    r = magec("migrate", "--config", str(cfg), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    where = f"SQLite {tmp_path / 'magec.db'}" if db_url.startswith("sqlite") else "postgresql+asyncpg://"
    assert re.search(rf"migrated {re.escape(where)}\S*: at revision \w+", r.stderr), r.stderr
    assert "pg-pass-canary-91" not in r.stdout + r.stderr
    assert ("***@" in r.stderr) == db_url.startswith("postgresql"), r.stderr
    assert "embedded SQLite" not in r.stderr  # a database was configured: no pointer
    assert "Running upgrade" in r.stderr  # what was applied is still said
    # one line per migration: a docstring's line breaks were printed as "\\n" inside it
    assert "\\n" not in r.stderr, r.stderr
    assert "usage`` gains the client a row was for" in r.stderr, r.stderr
    r = magec("migrate", "--config", str(cfg), cwd=tmp_path)  # idempotent
    assert r.returncode == 0, r.stderr
    # alembic's internals ("Context impl SQLiteImpl.", "Will assume non-transactional DDL.",
    # printed twice) are no news for the operator; what magec says is all that is printed
    assert "Context impl" not in r.stderr and "Will assume" not in r.stderr, r.stderr


def test_migrate_masks_only_a_password_that_is_there(tmp_path: Path, postgres: Postgres) -> None:
    """A URL with no password (or an empty one, as a socket-trusting server's) prints none: the mask
    ``postgres:***@`` sent an operator hunting for a password that was never set. A password in the
    query (``?password=``, which asyncpg reads) is masked like one in the authority."""
    db_url = postgres.url(postgres.create_database())
    user = re.match(r"[^:]+://([^:/@]+):?@", db_url)
    assert user, db_url  # the fixture's URL: user, empty password, socket in the query
    for url, shown, hidden in (
        (db_url, f"://{user[1]}@", "***"),
        (db_url.replace(":@", "@", 1), f"://{user[1]}@", "***"),
        (db_url + "&password=pg-query-canary-7", "password=***", "pg-query-canary-7"),
    ):
        cfg = write_config(tmp_path, url)
        r = magec("migrate", "--config", str(cfg), cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        line = next(line for line in r.stderr.splitlines() if line.startswith("migrated "))
        assert shown in line and hidden not in line, line


def test_lines_are_never_wrapped(tmp_path: Path) -> None:
    """Off a terminal (a script, a log, CI) with an 80-column width, rich wrapped the "database:" and
    "migrated …" lines at 80 columns: a long path came out split over two lines, which no one can
    paste or grep. Each is printed whole on its line."""
    deep = tmp_path / ("a-rather-long-directory-name-" * 3) / "and-another-long-one-below-it"
    deep.mkdir(parents=True)
    db = deep / "magec.db"
    cfg = write_config(deep, f"sqlite+aiosqlite:///{db}")
    store_json = tmp_path / "store.json"
    store_json.write_text(json.dumps({"commands": [{"id": "c-1", "name": "Daily", "prompt": "Summarise"}]}))
    r = magec("migrate", "--config", str(cfg), cwd=tmp_path, columns="80")
    assert r.returncode == 0, r.stderr
    assert re.search(rf"^migrated SQLite {re.escape(str(db))}: at revision \w+$", r.stderr, re.M), r.stderr
    r = magec("import-magec", str(store_json), "--config", str(cfg), cwd=tmp_path, columns="80")
    assert r.returncode == 0, r.stderr
    assert f"\ndatabase: SQLite {db}\n" in f"\n{r.stderr}", r.stderr


def test_commands_print_words_not_the_servers_log_format(tmp_path: Path) -> None:
    """A config that sends the server's log to a collector (``log.format: json``) is shared by the
    commands a person runs by hand: they printed JSON objects (and INFO lines) to the terminal.
    They say what they did in words; a log record, if any, is a plain ``warning: …`` line."""
    cfg = write_config(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'data' / 'magec.db'}")
    cfg.write_text(cfg.read_text() + "log: {format: json, level: debug}\n")
    store_json = tmp_path / "store.json"
    store_json.write_text(json.dumps(MAGEC_STORE))
    for args in (("migrate",), ("import-magec", str(store_json))):
        r = magec(*args, "--config", str(cfg), cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        lines = [line for line in (r.stdout + r.stderr).splitlines() if line.strip()]
        assert lines, args
        for line in lines:
            assert not line.lstrip().startswith("{") and " DEBUG " not in line and " INFO " not in line, (args, line)


def test_migrate_without_a_database_says_the_data_stays_in_sqlite(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"server: {{encryptionKey: k}}\ndataDir: {tmp_path / 'data'}\n")
    r = magec("migrate", "--config", str(cfg), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"migrated SQLite {tmp_path / 'data' / 'magec.db'}: at revision" in r.stderr, r.stderr
    assert "no database.url is configured, so the data stays in the embedded SQLite database" in r.stderr
    assert "PostgreSQL set database.url (MAGEC_DATABASE_URL), see docs/backup.md" in r.stderr


def test_version_names_the_release_and_the_schema_it_migrates_to(tmp_path: Path) -> None:
    """An operator upgrading asks the binary what it is: ``magec --version`` was "Usage: magec serve
    … No such option: --version" (options with no command run serve). It names the release and the
    schema revision ``magec migrate`` brings a database to, and touches nothing."""
    from importlib.metadata import version

    for flag in ("--version", "-V"):
        r = magec(flag, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        said = re.fullmatch(r"magec (\S+) \(database schema (\S+)\)\n", r.stdout)
        assert said and said.group(1) == version("magec"), r.stdout
    assert list(tmp_path.iterdir()) == []  # no data dir, no key, no database
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"server: {{encryptionKey: k}}\ndataDir: {tmp_path / 'data'}\n")
    r = magec("migrate", "--config", str(cfg), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"at revision {said.group(2)}" in r.stderr, (said.group(2), r.stderr)


async def test_import_magec_store(tmp_path: Path) -> None:
    store_json = tmp_path / "store.json"
    store_json.write_text(json.dumps(MAGEC_STORE))
    cfg = write_config(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'data' / 'magec.db'}")
    r = magec("import-magec", str(store_json), "--config", str(cfg), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "literal-key-xyz" not in (tmp_path / "data" / "magec.db").read_bytes().decode("latin-1")
    async with running_apps(tmp_path / "data", database_url=f"sqlite+aiosqlite:///{tmp_path / 'data' / 'magec.db'}",
                            encryption_key="k") as apps:
        a = (await apps.admin.get("/api/v1/admin/agents/ag-1")).json()
        assert a["tts"]["config"]["openai"]["speed"] == 1.25 and a["mcpServers"] == ["mcp-1"]
        assert (await apps.admin.get("/api/v1/admin/flows/fl-1")).status_code == 200
        assert (await apps.admin.get("/api/v1/admin/settings")).json()["longTermProvider"] == "mem-1"
        b = (await apps.admin.get("/api/v1/admin/backends/b-openai")).json()
        assert b["apiKey"] == "${OPENAI_API_KEY}"
        assert (await apps.admin.get("/api/v1/admin/secrets/sec-1")).status_code == 200
        # the existing client token keeps working
        r = await apps.user.get("/api/v1/agent/list-apps", headers={"Authorization": "Bearer mgc_existingtoken123456"})
        assert r.status_code == 200 and set(r.json()) == {"Magec", "Pipe"}  # list-apps names the apps, as ADK's


def test_import_magec_says_where_and_what_it_changed(tmp_path: Path) -> None:
    """It writes to a database directly: it names it; a store that names no memory provider does
    not switch the server's off; anything not imported is an exit status 1; a mistyped path
    creates nothing."""
    db = tmp_path / "data" / "magec.db"
    cfg = write_config(tmp_path, f"sqlite+aiosqlite:///{db}")
    r = magec("import-magec", str(tmp_path / "no-such-store.json"), "--config", str(cfg), cwd=tmp_path)
    assert r.returncode == 1 and "no-such-store.json" in r.stderr and not (tmp_path / "data").exists(), r.stderr
    store_json = tmp_path / "store.json"
    store_json.write_text(json.dumps(MAGEC_STORE))
    r = magec("import-magec", str(store_json), "--config", str(cfg), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"database: SQLite {db}" in r.stderr
    # a second store: Magec writes "" for a provider it does not use
    second = tmp_path / "second.json"
    second.write_text(json.dumps({"settings": {"sessionProvider": "", "longTermProvider": ""},
                                  "agents": [{"id": "ag-2", "name": "Two", "llm": {"backend": "missing", "model": "m"}}]}))
    r = magec("import-magec", str(second), "--config", str(cfg), cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    assert "longTermProvider kept 'mem-1' (empty in the store)" in r.stderr and "1 item(s) not imported" in r.stderr
    with sqlite3.connect(db) as conn:
        (settings,) = conn.execute("SELECT settings FROM config_state").fetchone()
    assert json.loads(settings)["longTermProvider"] == "mem-1"


def test_import_magec_warns_of_a_secret_with_an_empty_value(tmp_path: Path) -> None:
    """A secret whose value is empty in store.json is imported (its references stay) and reported
    REENTER by name: every ``${KEY}`` of it would otherwise expand to nothing, unannounced."""
    cfg = write_config(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'data' / 'magec.db'}")
    store_json = tmp_path / "store.json"
    store_json.write_text(json.dumps({"secrets": [
        {"id": "sec-e", "name": "Groq", "key": "GROQ_API_KEY", "value": ""},
        {"id": "sec-f", "name": "Fine", "key": "FINE_KEY", "value": "v-123"}]}))
    r = magec("import-magec", str(store_json), "--config", str(cfg), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = r.stdout + r.stderr
    assert "REENTER      Groq (sec-e) — value is empty in store.json: enter it" in out, out
    assert "imported     Fine (sec-f)" in out and "(1 with a value to re-enter)" in out, out


def test_config_file_and_env(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("server:\n  port: ${PORT:-9000}\n  adminPassword: ${PASS}\nlog: {level: debug, format: json}\n")
    c = load_config(cfg, env={"PASS": "pw"})
    assert (c.port, c.admin_password, c.log_level, c.log_format) == (9000, "pw", "debug", "json")
    c = load_config(cfg, env={"PASS": "pw", "MAGEC_PORT": "7000", "MAGEC_DATABASE_URL": "postgresql+asyncpg://x/y"})
    assert c.port == 7000 and c.resolved_database_url() == "postgresql+asyncpg://x/y"
    assert load_config(None, env={}).resolved_database_url().startswith("sqlite+aiosqlite:///")
    assert expand_env("a ${X:-b} ${Y}", {"Y": "y"}) == "a b y"
    with pytest.raises(ConfigError):
        load_config(tmp_path / "missing.yaml", env={})
    bad = tmp_path / "bad.yaml"
    bad.write_text("server: {port: nope}")
    with pytest.raises(ConfigError, match="server.port"):
        load_config(bad, env={})
    # a body budget smaller than a body one route takes would refuse every such body
    small = tmp_path / "small.yaml"
    small.write_text("limits: {uploadBytes: 2048, bodyBytesInFlight: 1500}")
    with pytest.raises(ConfigError, match="limits.bodyBytesInFlight"):
        load_config(small, env={})
    small.write_text("limits: {uploadBytes: 2048, bodyBytesInFlight: 3145728}")  # bodyBytes: 2 MiB
    assert load_config(small, env={}).body_bytes_in_flight == 3145728


def test_every_variable_the_readme_names_is_read() -> None:
    """The README's list of ``MAGEC_*`` variables for config.yaml settings: each one changes the
    configuration (a listed name magec does not read would be silently ignored by an operator)."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    paragraph = readme[readme.index("can also come from the environment"):readme.index("MAGEC_EVENT_LOOP")]
    names = sorted(set(re.findall(r"`(MAGEC_[A-Z0-9_]+)`", paragraph)) - {"MAGEC_VOICE_"})
    assert len(names) >= 25, names
    baseline = vars(load_config(None, env={}))
    for name in names:
        for value in ("7", "4096", "67108864", "true", "network", "debug", "json", "10.0.0.0/8"):
            try:
                cfg = load_config(None, env={name: value})
            except ConfigError:
                continue
            if vars(cfg) != baseline:
                break
        else:
            pytest.fail(f"the README lists {name}, but no value of it changes the configuration")


def test_serve_sigterm_clean_exit(tmp_path: Path) -> None:
    from magec.testing.server import ServerProcess

    server = ServerProcess(tmp_path / "data").start()
    assert server.stop() == 0
    assert "shutting down" in (server.log_path.read_text() if server.log_path else "")


def test_serve_with_another_encryption_key_is_a_one_line_config_error(tmp_path: Path) -> None:
    """Restarted under a different ``server.encryptionKey``, ``magec serve`` stops the way a bad
    config file does: exit status 2 and one ``error:`` line naming the setting, no traceback."""
    import httpx

    from magec.testing.server import ServerProcess

    server = ServerProcess(tmp_path / "data").start()
    r = httpx.post(f"{server.admin_url}/api/v1/admin/secrets", json={"name": "k", "key": "K", "value": "v-123456789"})
    assert r.status_code == 201, r.text
    assert server.stop() == 0
    cfg = tmp_path / "other-key.yaml"
    cfg.write_text((tmp_path / "data" / "config.yaml").read_text().replace("e2e-key", "another-key"))
    r2 = magec("serve", "--config", str(cfg), cwd=tmp_path)
    assert r2.returncode == 2, r2.stderr
    output = r2.stdout + r2.stderr
    assert "Traceback" not in output and "InvalidToken" not in output
    lines = [line for line in output.splitlines() if not line.startswith("{")]  # the JSON log lines aside
    assert len(lines) == 1 and lines[0].startswith("error: ") and "server.encryptionKey" in lines[0], output


@pytest.mark.parametrize(
    ("url", "says"),
    [("postgresql://magec:pw-db-4471@127.0.0.1:{port}/magec", "needs an async driver"),  # psycopg's URL form
     ("postgresql+asyncpg://magec:pw-db-4471@127.0.0.1:{port}/magec", "cannot open the database"),  # nothing there
     ("not a url", "not a database URL")],
)
def test_a_database_magec_cannot_open_is_a_one_line_error(tmp_path: Path, url: str, says: str) -> None:
    """``migrate`` and ``serve`` on a database URL without an async driver, or a server that is not
    there: exit status 2 and one ``error:`` line naming database.url, without its password."""
    from magec.testing.services import free_port

    cfg = write_config(tmp_path, url.format(port=free_port()))
    for command in ("migrate", "serve"):
        r = magec(command, "--config", str(cfg), cwd=tmp_path)
        output = r.stdout + r.stderr
        assert r.returncode == 2, output
        assert "Traceback" not in output and "pw-db-4471" not in output, output
        errors = [line for line in output.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and "database.url" in errors[0] and says in errors[0], output
        assert len([line for line in output.splitlines() if line.strip()]) <= 2, output  # a warning at most


@pytest.mark.parametrize(
    ("password", "mangled"),
    [("*Tr0ub4dor&3 #1", "*Tr0ub4dor&3"),  # YAML syntax (an alias, a comment) when pasted as text
     ("012345", "5349")],  # an octal number when pasted as text
)
def test_admin_password_from_the_environment_arrives_verbatim(tmp_path: Path, password: str, mangled: str) -> None:
    """The README's ``adminPassword: ${VAR}``: the variable's text is the password, exactly."""
    import httpx

    from magec.testing.server import ServerProcess

    server = ServerProcess(tmp_path / "data", server_config={"adminPassword": "${TEST_ADMIN_PW}"},
                           env={"TEST_ADMIN_PW": password})
    with server:
        written = (tmp_path / "data" / "config.yaml").read_text()
        assert "adminPassword: ${TEST_ADMIN_PW}\n" in written  # unquoted, as the README writes it
        url = f"{server.admin_url}/api/v1/admin/agents"
        assert httpx.get(url, headers={"Authorization": f"Bearer {password}"}).status_code == 200
        assert httpx.get(url, headers={"Authorization": f"Bearer {mangled}"}).status_code == 401


def test_config_errors_never_show_a_substituted_value(tmp_path: Path) -> None:
    secret = "hunter-secret-77"
    cfg = tmp_path / "c.yaml"
    cfg.write_text("server: {adminPassword: ${PW}, port: [1}\n")  # a syntax error on the secret's line
    r = subprocess.run([sys.executable, "-m", "magec", "serve", "--config", str(cfg)], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120, env={**os.environ, "PW": secret})
    assert r.returncode == 2 and "not valid YAML" in r.stderr, r.stderr
    assert secret not in r.stdout + r.stderr and "Traceback" not in r.stderr
    cfg.write_text("server:\n  port: ${PORT}\n  adminPassword: ${PW}\n")
    assert load_config(cfg, env={"PORT": "9100", "PW": secret}).port == 9100
    with pytest.raises(ConfigError, match=r"server\.port must be an integer") as e:
        load_config(cfg, env={"PORT": "port-secret-88", "PW": secret})
    assert "port-secret-88" not in str(e.value) and "${PORT}" in str(e.value)


def test_a_port_in_use_is_one_line_before_anything_is_touched(tmp_path: Path) -> None:
    import socket

    from magec.testing.services import free_port

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen(1)
        port = held.getsockname()[1]
        cfg = tmp_path / "config.yaml"
        cfg.write_text(f"server: {{host: 127.0.0.1, port: {port}, adminPort: {free_port()}, encryptionKey: k}}\n"
                       f"dataDir: {tmp_path / 'data'}\n")
        r = magec("serve", "--config", str(cfg), cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert lines == [f"error: server.port: cannot listen on 127.0.0.1:{port}: Address already in use"], r.stderr
    assert not (tmp_path / "data").exists()  # no database migrated, no key generated


def test_no_command_serves_like_magecs_binary(tmp_path: Path) -> None:
    """``magec --config F`` starts the server, as Magec's ``magec --config config.yaml`` does;
    options before a named command still reach it."""
    from magec.testing.server import ServerProcess

    with ServerProcess(tmp_path / "data", command=[]).start() as srv:
        import httpx

        assert httpx.get(f"{srv.user_url}/api/v1/health").status_code == 200
        assert httpx.get(f"{srv.admin_url}/api/v1/health").status_code == 200
    cfg = write_config(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'other.db'}")
    r = magec("--config", str(cfg), "migrate", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "revision" in r.stderr


def test_an_ipv6_listen_address_is_logged_as_a_browser_takes_it(tmp_path: Path) -> None:
    """``server.host: "::1"``: the start-up line gives ``http://[::1]:PORT`` (it printed
    ``http://::1:PORT``, which no browser or curl opens)."""
    import httpx

    from magec.testing.server import ServerProcess

    class OnIPv6(ServerProcess):
        @property
        def user_url(self) -> str:
            return f"http://[::1]:{self.port}"

    with OnIPv6(tmp_path / "d", server_config={"host": "::1"}) as srv:
        assert httpx.get(f"{srv.user_url}/api/v1/health").status_code == 200
        assert srv.log_path is not None
        started = [json.loads(line)["msg"] for line in srv.log_path.read_text().splitlines()
                   if "user API on" in line]
    assert started and f"user API on http://[::1]:{srv.port}," in started[0], started


def test_a_wildcard_listen_address_is_logged_as_a_url_that_opens(tmp_path: Path) -> None:
    """``server.host: 0.0.0.0`` (the default): the start-up line gives ``http://localhost:PORT``, the
    URL the README sends people to, and says it listens on every interface (``http://0.0.0.0:PORT``
    is no address to browse to: browsers block it, and it named no host users know)."""
    import httpx

    from magec.testing.server import ServerProcess

    with ServerProcess(tmp_path / "d", server_config={"host": "0.0.0.0"}) as srv:
        assert srv.log_path is not None
        started = [json.loads(line)["msg"] for line in srv.log_path.read_text().splitlines()
                   if "user API on" in line]
        assert started, srv.log_path.read_text()
        url = f"http://localhost:{srv.port}"
        assert f"user API on {url} (every interface: 0.0.0.0)," in started[0], started
        assert "0.0.0.0:" not in started[0], started
        assert httpx.get(f"{url}/api/v1/health").status_code == 200


async def test_version_names_the_newest_migration_and_migrate_brings_an_older_database_there(tmp_path: Path) -> None:
    """With 0013_memory_clients and 0014_webhook_signatures: ``magec --version`` names one schema
    revision, the newest migration shipped (a branch left by a merge, or a migration missing from
    the chain, would show as two or as an older one), and ``magec migrate`` brings a database an
    older magec left (here at the revision before ``*_memory_clients``) to exactly that one."""
    from magec.store import migrate
    from magec.store.pool import make_engine

    versions = migrate.MIGRATIONS / "versions"
    newest = max(versions.glob("[0-9]*_*.py")).read_text()
    found = re.search(r'^revision = "([^"]+)"', newest, re.M)
    assert found is not None
    r = magec("--version", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    said = re.fullmatch(r"magec \S+ \(database schema (\S+)\)\n", r.stdout)
    assert said and said.group(1) == found.group(1), (r.stdout, found.group(1))
    [path] = versions.glob("*_memory_clients.py")
    before = re.search(r'^down_revision = "([^"]+)"', path.read_text(), re.M)
    assert before is not None
    db = tmp_path / "data" / "magec.db"
    db.parent.mkdir()
    engine = make_engine(f"sqlite+aiosqlite:///{db}")
    try:
        await migrate.upgrade(engine, before.group(1))  # as the older magec left it
    finally:
        await engine.dispose()
    with sqlite3.connect(db) as raw:
        assert raw.execute("SELECT version_num FROM alembic_version").fetchall() == [(before.group(1),)]
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"server: {{encryptionKey: k}}\ndataDir: {tmp_path / 'data'}\n")
    r = magec("migrate", "--config", str(cfg), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"at revision {said.group(1)}" in r.stderr, (said.group(1), r.stderr)
    with sqlite3.connect(db) as raw:
        assert raw.execute("SELECT version_num FROM alembic_version").fetchall() == [(said.group(1),)]
