"""Which requests the servers' access logs record: the check that a figure's files came from the
server under test rests on this."""

from __future__ import annotations

from pathlib import Path

from bench.servers import AccessLog, Served, missing, parse_log

FEEDHOUSE = """\
Feedhouse is running at http://127.0.0.1:5000
GET /api/health 200 3B 2ms user=- agent=-
GET /bench/simple/flask/ 200 512B 9ms user=ci token=abc agent="pip/26.3"
GET /bench/files/flask/flask-3.1.3-py3-none-any.whl 200 103000B 12ms user=ci token=abc agent="pip/26.3"
GET /bench/files/idna/idna-3.20-py3-none-any.whl 404 40B 3ms user=ci token=abc agent="pip/26.3"
GET /bench/files/x/x%2B1-1.0-py3-none-any.whl.metadata 200 40B 3ms user=ci agent=-
GET /nowhere 404 (answered by the host)
"""
GUNICORN = (
    '127.0.0.1 - - [01/Dec/2026:10:02:51 +0000] "GET /packages/flask-3.1.3-py3-none-any.whl HTTP/1.1"'
    ' 200 0 "-" "pip/26.3 {\\"ci\\":null}"\n'
    '127.0.0.1 - - [01/Dec/2026:10:02:52 +0000] "HEAD /packages/idna-3.20-py3-none-any.whl HTTP/1.1"'
    ' 200 0 "-" "uv/0.13.9"\n'
    "[2026-12-01 10:02:43 +0000] [2896] [INFO] Booting worker with pid: 2898\n"
)
NGINX = (
    '127.0.0.1 - - [01/Dec/2026:10:03:00 +0000] "GET /simple/flask/?x=1 HTTP/1.1" 200 441 "-" "uv/0.13.9"\n'
    '127.0.0.1 - - [01/Dec/2026:10:03:00 +0000] "GET /files/flask-3.1.3-py3-none-any.whl.metadata HTTP/1.1"'
    ' 206 100 "-" "uv/0.13.9"\n'
)


def test_it_reads_feedhouse_access_lines_those_of_the_host_too_and_skips_everything_else() -> None:
    assert parse_log(FEEDHOUSE) == [
        Served("GET", "/api/health", 200),
        Served("GET", "/bench/simple/flask/", 200),
        Served("GET", "/bench/files/flask/flask-3.1.3-py3-none-any.whl", 200),
        Served("GET", "/bench/files/idna/idna-3.20-py3-none-any.whl", 404),
        Served("GET", "/bench/files/x/x+1-1.0-py3-none-any.whl.metadata", 200),
        Served("GET", "/nowhere", 404),
    ]


def test_it_reads_the_common_log_format_of_gunicorn_and_nginx_without_query_strings() -> None:
    assert parse_log(GUNICORN + NGINX) == [
        Served("GET", "/packages/flask-3.1.3-py3-none-any.whl", 200),
        Served("HEAD", "/packages/idna-3.20-py3-none-any.whl", 200),
        Served("GET", "/simple/flask/", 200),
        Served("GET", "/files/flask-3.1.3-py3-none-any.whl.metadata", 206),
    ]


def test_missing_counts_only_successful_requests_with_the_methods_asked_for() -> None:
    wanted = ["flask-3.1.3-py3-none-any.whl", "idna-3.20-py3-none-any.whl"]
    # idna answered 404: not served.
    assert missing(parse_log(FEEDHOUSE), wanted) == ["idna-3.20-py3-none-any.whl"]
    # A HEAD is not a download, unless it is asked for (uv reads metadata with HEAD and ranges).
    assert missing(parse_log(GUNICORN), wanted) == ["idna-3.20-py3-none-any.whl"]
    assert missing(parse_log(GUNICORN), wanted, methods=("GET", "HEAD")) == []
    # A file is not its .metadata, nor the other way round.
    assert missing(parse_log(NGINX), ["flask-3.1.3-py3-none-any.whl"]) == ["flask-3.1.3-py3-none-any.whl"]
    assert missing(parse_log(NGINX), ["flask-3.1.3-py3-none-any.whl.metadata"]) == []


def test_an_access_log_is_read_from_a_mark_so_earlier_runs_do_not_count(tmp_path: Path) -> None:
    log = AccessLog(tmp_path / "access.log")
    assert log.mark() == 0 and log.since(0) == []  # not written yet
    log.path.write_text(FEEDHOUSE)
    mark = log.mark()
    assert log.missing_since(mark, ["flask-3.1.3-py3-none-any.whl"], wait=0) == [
        "flask-3.1.3-py3-none-any.whl"
    ]
    with log.path.open("a") as file:
        file.write("GET /bench/files/flask/flask-3.1.3-py3-none-any.whl 200 1B 1ms user=ci agent=-\n")
    assert log.missing_since(mark, ["flask-3.1.3-py3-none-any.whl"], wait=0) == []
    path = "/bench/files/flask/flask-3.1.3-py3-none-any.whl"
    assert log.count_since(0, path, wait=0) == 2
    assert log.count_since(mark, path, wait=0) == 1
