"""The daemon's TOML configuration: parsing, validation (one clear line per mistake), `ticker sources`."""

from __future__ import annotations

from pathlib import Path

import pytest

from ticker.core.settings import AlertSettings, ArchiveSettings
from ticker.schedules.config import ConfigError, default_config, load_config, parse_interval
from ticker.schedules.daemon import phase_for

FULL = """
db = "data/ticker.db"

[sources.rbc]
kind = "rbc"
url = "https://www.rbc.ru/"
every = "2m"
channels = ["page", "rss"]

[sources.rbc-mirror]
kind = "rbc"
url = "http://mirror.example/rbc"
every = 45

[sources.cbr]
kind = "cbr"
every = "1h"

[archive]
keep = "all"
keep_days = 30

[alerts]
urls = ["json://127.0.0.1:9/hook"]
fail_after = 5
blocked_for = "30m"
on_pulled = true
"""


def write(tmp_path: Path, text: str, name: str = "ticker.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(45, 45.0), (0.5, 0.5), ("45s", 45.0), ("2m", 120.0), ("1h", 3600.0), ("1.5m", 90.0), (" 3 s ", 3.0)],
)
def test_interval_forms(value, seconds):
    assert parse_interval(value, "every") == seconds


@pytest.mark.parametrize("value", [0, -5, "0s", "2x", "m", "", "2 minutes", True, [1], float("inf")])
def test_bad_intervals_name_key_and_value(value):
    with pytest.raises(ConfigError) as error:
        parse_interval(value, "sources.rbc.every")
    message = str(error.value)
    assert message.startswith(f"sources.rbc.every = {value!r}:")
    assert "\n" not in message


def test_full_config(tmp_path):
    config = load_config(write(tmp_path, FULL))
    assert config.db == tmp_path / "data" / "ticker.db"  # relative to the file, not the cwd
    by_name = {spec.name: spec for spec in config.sources}
    assert list(by_name) == ["rbc", "rbc-mirror", "cbr"]
    assert by_name["rbc"].channels == ("page", "rss")
    assert by_name["rbc"].every_s == 120.0
    assert by_name["rbc-mirror"].kind == "rbc"  # two sources may share a kind
    assert by_name["rbc-mirror"].url_for("page") == "http://mirror.example/rbc"
    assert by_name["rbc-mirror"].channels == ("page",)
    assert by_name["cbr"].every_s == 3600.0
    assert by_name["cbr"].url is None
    assert config.settings.archive == ArchiveSettings(keep="all", keep_days=30.0)
    assert config.settings.alerts == AlertSettings(
        urls=("json://127.0.0.1:9/hook",), fail_after=5, blocked_for_s=1800.0, on_pulled=True
    )


def test_db_override_and_absolute_db(tmp_path):
    path = write(tmp_path, FULL)
    assert load_config(path, db_override="other.db").db == Path("other.db")
    absolute = tmp_path / "abs.db"
    text = FULL.replace('db = "data/ticker.db"', f'db = "{absolute}"')
    assert load_config(write(tmp_path, text, "b.toml")).db == absolute


def test_embedded_default():
    config = default_config()
    assert config.db == Path("ticker.db")
    assert [(s.name, s.kind, s.every_s) for s in config.sources] == [
        ("rbc", "rbc", 120.0),
        ("cbr", "cbr", 3600.0),
    ]
    assert default_config("x.db").db == Path("x.db")


def test_config_without_sources_uses_default_sources(tmp_path):
    config = load_config(write(tmp_path, '[archive]\nkeep = "none"\n'))
    assert [s.name for s in config.sources] == ["rbc", "cbr"]
    assert config.settings.archive.keep == "none"
    assert config.db == tmp_path / "ticker.db"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('dbfile = "x.db"', "dbfile: unknown key"),
        ('[sources.rbc]\nkind = "rbc"\nevery = "2m"\nintervall = 3', "sources.rbc.intervall: unknown key"),
        ('[sources.rbc]\nkind = "nyt"', "sources.rbc.kind = 'nyt': unknown kind"),
        ("[sources.rbc]\nevery = 5", "sources.rbc.kind: missing"),
        ('[sources.rbc]\nkind = "rbc"\nevery = "soon"', "sources.rbc.every = 'soon': not an interval"),
        ('[sources.rbc]\nkind = "rbc"\nevery = 0', "sources.rbc.every = 0: not an interval"),
        (
            '[sources.rbc]\nkind = "rbc"\nurl = "ftp://rbc.ru/"',
            "sources.rbc.url = 'ftp://rbc.ru/': must be an http",
        ),
        (
            '[sources.rbc]\nkind = "rbc"\nurl = "www.rbc.ru"',
            "sources.rbc.url = 'www.rbc.ru': must be an http",
        ),
        ('[sources.rbc]\nkind = "rbc"\nurl = "file:///etc/passwd"', "sources.rbc.url = 'file:///etc/passwd'"),
        ('[sources.rbc]\nkind = "rbc"\nchannels = ["page", "telegram"]', "has no channel 'telegram'"),
        ('[sources.cbr]\nkind = "cbr"\nchannels = ["rss"]', "sources.cbr.channels = ['rss']"),
        ('[sources.rbc]\nkind = "rbc"\nchannels = []', "sources.rbc.channels = []"),
        ('[sources.rbc]\nkind = "rbc"\nchannels = ["page", "page"]', "named twice"),
        ('[sources."my source"]\nkind = "rbc"', "bad source name 'my source'"),
        ("[sources]", "no source configured"),
        ('sources = "rbc"', "sources = 'rbc': must be a table"),
        ('[archive]\nkeep = "some"', "archive.keep = 'some'"),
        ("[archive]\nkeep_days = -1", "archive.keep_days = -1"),
        ("[archive]\nkeep_forever = true", "archive.keep_forever: unknown key"),
        ('[alerts]\nurls = "json://x"', "alerts.urls: must be a list"),
        ("[alerts]\nfail_after = 0", "alerts.fail_after = 0"),
        ('[alerts]\nblocked_for = "ever"', "alerts.blocked_for = 'ever'"),
        ('[alerts]\non_recovery = "yes"', "alerts.on_recovery = 'yes'"),
        ('[alerts]\nsmtp = "x"', "alerts.smtp: unknown key"),
        ("db = 5", "db = 5: must be a file path"),
        ('[sources.rbc]\nkind = "rbc"\nurls = {rss = "gopher://x/"}', "sources.rbc.urls.rss = 'gopher://x/'"),
        (
            '[sources.rbc]\nkind = "rbc"\nurls = {xml_daily = "http://x/"}',
            "sources.rbc.urls.xml_daily: kind 'rbc'",
        ),
        (
            '[sources.rbc]\nkind = "rbc"\nurls = "http://x/"',
            "sources.rbc.urls = 'http://x/': must be a table",
        ),
    ],
)
def test_each_mistake_is_one_line_naming_key_and_value(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    message = str(error.value)
    assert message.startswith(f"{path}: ")
    assert expected in message
    assert "\n" not in message


def test_toml_syntax_error_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML") as error:
        load_config(write(tmp_path, "[sources.rbc\nkind = 'rbc'"))
    assert "\n" not in str(error.value)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml")


def test_sources_command_lists_what_would_run(cli, tmp_path):
    result = cli("sources", "--config", write(tmp_path, FULL))
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert str(tmp_path / "data" / "ticker.db") in lines[0]
    rbc = next(line for line in lines if line.startswith("rbc "))
    assert "page > rss" in rbc and "120s" in rbc and "https://www.rbc.ru/" in rbc
    mirror = next(line for line in lines if line.startswith("rbc-mirror "))
    assert "45s" in mirror and "http://mirror.example/rbc" in mirror
    assert "keep all, 30 days" in result.output


def test_sources_command_default(cli):
    result = cli("sources")
    assert result.exit_code == 0
    assert "embedded default" in result.output
    assert any(line.startswith("cbr ") and "3600s" in line for line in result.output.splitlines())


def test_run_with_bad_config_says_one_line_and_fails_before_anything(cli, tmp_path):
    path = write(tmp_path, 'db = "never.db"\n[sources.rbc]\nkind = "rbc"\nevery = "soon"')
    result = cli("run", "--config", path)
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: {path}: sources.rbc.every = 'soon': not an interval "
        "(a positive number of seconds, or '45s', '2m', '1h')"
    ]
    assert not (tmp_path / "never.db").exists()
    assert not (tmp_path / "never.db.lock").exists()


def test_per_channel_addresses(tmp_path):
    """`urls` gives any channel its own address (a mirror, a local test server)."""
    path = write(
        tmp_path,
        '[sources.rbc]\nkind = "rbc"\nurl = "http://mirror.test/"\nchannels = ["page", "rss"]\n'
        '[sources.rbc.urls]\nrss = "http://mirror.test/full.rss"\n',
    )
    (spec,) = load_config(path).sources
    assert spec.url_for("page") == "http://mirror.test/"
    assert spec.url_for("rss") == "http://mirror.test/full.rss"
    assert spec.url_for("feed_json").startswith("https://www.rbc.ru/v10/ajax/get-news-feed/")


# -- numbers, intervals and addresses at the edge (issue 12) ----------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[archive]\nkeep_days = 1e9", "archive.keep_days = 1000000000.0: must be a number of days"),
        ("[archive]\nkeep_days = inf", "archive.keep_days = inf:"),
        ("[archive]\nkeep_days = nan", "archive.keep_days = nan:"),
        ("[archive]\nkeep_days = -1", "archive.keep_days = -1:"),
        ("[archive]\nkeep_days = true", "archive.keep_days = True:"),
        ('[sources.rbc]\nkind = "rbc"\nevery = 1e12', "sources.rbc.every = 1000000000000.0: longer than"),
        ('[sources.rbc]\nkind = "rbc"\nevery = nan', "sources.rbc.every = nan: not an interval"),
        ('[sources.rbc]\nkind = "rbc"\nevery = inf', "sources.rbc.every = inf: not an interval"),
        ('[sources.rbc]\nkind = "rbc"\nevery = true', "sources.rbc.every = True: not an interval"),
        ('[sources.rbc]\nkind = "rbc"\nevery = "9999h"', "sources.rbc.every = '9999h': longer than"),
        ("max_backoff = 0", "max_backoff = 0: not an interval"),
        ('max_backoff = "1000000h"', "max_backoff = '1000000h': longer than"),
        ('[sources.rbc]\nkind = "rbc"\nmax_backoff = nan', "sources.rbc.max_backoff = nan"),
        ("[alerts]\nfail_after = 1e3", "alerts.fail_after = 1000.0: must be a whole number"),
        ("[alerts]\nfail_after = 100000000000000000", "alerts.fail_after = 100000000000000000:"),
        ("[alerts]\nfail_after = true", "alerts.fail_after = True:"),
        ("[alerts]\non_recovery = 1", "alerts.on_recovery = 1: must be true or false"),
        ("[alerts]\non_pulled = 0", "alerts.on_pulled = 0: must be true or false"),
        ("[alerts]\nblocked_for = inf", "alerts.blocked_for = inf: not an interval"),
        (
            '[sources.rbc]\nkind = "rbc"\nurl = "http://rbc.ru:99999/"',
            "sources.rbc.url = 'http://rbc.ru:99999/': bad port",
        ),
        (
            '[sources.rbc]\nkind = "rbc"\nurl = "http://rbc.ru:x/"',
            "sources.rbc.url = 'http://rbc.ru:x/': bad port",
        ),
        (
            '[sources.rbc]\nkind = "rbc"\nurl = "http:///path"',
            "sources.rbc.url = 'http:///path': must be an http",
        ),
        ('[sources.rbc]\nkind = "rbc"\nurl = "http://rbc.ru/a b"', "cannot contain spaces"),
        ('[sources.rbc]\nkind = "rbc"\nurls = {rss = "http://rbc.ru/\\n"}', "sources.rbc.urls.rss = "),
    ],
)
def test_numbers_and_addresses_out_of_range_are_one_line(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    message = str(error.value)
    assert expected in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("source", "key"),
    [
        ('kind = "rbc"\nevery = 0.001', "sources.x.every = 0.001"),
        ('kind = "rbc"\nurl = "http://127.0.0.1:8/"\nevery = 29', None),  # the main channel is local
        ('kind = "cbr"\nevery = "10s"', "sources.x.every = 10"),  # the default address is remote
        ('kind = "rbc"\nurl = "http://mirror.example/"\nevery = 5', "sources.x.every = 5"),
        # the local page, but the rss fallback goes to RBC: refused, naming that channel
        (
            'kind = "rbc"\nurl = "http://127.0.0.1:8/"\nchannels = ["page", "rss"]\nevery = 1',
            "channel rss polls rssexport.rbc.ru",
        ),
    ],
)
def test_interval_under_30s_only_for_loopback_hosts(tmp_path, source, key):
    path = write(tmp_path, "[sources.x]\n" + source)
    if key is None:
        assert load_config(path).sources[0].every_s == 29.0
        return
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert key in str(error.value) and "loopback" in str(error.value)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/", "http://127.5.6.7/", "http://[::1]:9/", "http://localhost:8/"]
)
def test_loopback_hosts_may_poll_fast(tmp_path, url):
    (spec,) = load_config(write(tmp_path, f'[sources.x]\nkind = "cbr"\nurl = "{url}"\nevery = 0.2\n')).sources
    assert spec.every_s == 0.2


@pytest.mark.parametrize(
    ("url", "number"),
    [("nosuchscheme://host/path", 1), ("json://", 1), ("mailto://", 1), ("tgram://", 1)],
)
def test_alert_urls_apprise_cannot_use_are_refused_at_load(tmp_path, url, number):
    path = write(tmp_path, f'[alerts]\nurls = ["{url}"]\n')
    with pytest.raises(ConfigError) as error:
        load_config(path)
    message = str(error.value)
    assert f"alerts.urls #{number}: Apprise does not understand" in message
    assert "\n" not in message


def test_alert_url_message_never_repeats_the_url(tmp_path):
    secret = "tgram://SECRET-bot-token/"  # a chat id is missing: Apprise refuses it
    path = write(tmp_path, f'[alerts]\nurls = ["json://127.0.0.1:9/hook", "{secret}"]\n')
    with pytest.raises(ConfigError, match=r"alerts.urls #2: ") as error:
        load_config(path)
    assert "SECRET" not in str(error.value)


def test_max_backoff_top_level_and_per_source(tmp_path):
    path = write(
        tmp_path,
        'max_backoff = "10m"\n[sources.a]\nkind = "cbr"\n[sources.b]\nkind = "cbr"\nmax_backoff = 45\n',
    )
    config = load_config(path)
    assert (config.max_backoff_for("a"), config.max_backoff_for("b")) == (600.0, 45.0)
    assert default_config().max_backoff_for("rbc") == 1800.0


def test_run_refuses_a_fast_remote_interval_with_one_line(cli, tmp_path):
    path = write(tmp_path, 'db = "never.db"\n[sources.rbc]\nkind = "rbc"\nevery = 0.001\n')
    result = cli("run", "--config", path)
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"Error: {path}: sources.rbc.every = 0.001: under 30 s")
    assert not (tmp_path / "never.db").exists()


def test_sources_json_with_redacted_addresses(tmp_path):
    import json

    from click.testing import CliRunner

    from ticker.cli import main

    path = write(
        tmp_path,
        'max_backoff = "5m"\n[sources.mirror]\nkind = "rbc"\nurl = "http://user:pw@127.0.0.1:8/?token=SECRET"\n'
        'every = 1\nchannels = ["page", "rss"]\n[sources.mirror.urls]\nrss = "http://127.0.0.1:8/rss"\n',
    )
    result = CliRunner().invoke(main, ["sources", "--config", str(path), "--json"])
    assert result.exit_code == 0
    assert "SECRET" not in result.stdout and "pw@" not in result.stdout
    document = json.loads(result.stdout)
    assert document["config"] == str(path) and document["db"] == str(tmp_path / "ticker.db")
    (source,) = document["sources"]
    assert source == {
        "source": "mirror",
        "kind": "rbc",
        "url": "http://***@127.0.0.1:8/?token=***",
        "every_s": 1.0,
        "phase_s": round(phase_for("mirror", 1.0), 3),
        "max_backoff_s": 300.0,
        "channels": [
            {"channel": "page", "url": "http://***@127.0.0.1:8/?token=***"},
            {"channel": "rss", "url": "http://127.0.0.1:8/rss"},
        ],
    }
    text = CliRunner().invoke(main, ["sources", "--config", str(path)]).output
    assert "SECRET" not in text and "token=***" in text
