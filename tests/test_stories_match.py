"""The story matcher: hand-written pairs for each rule of the story definition (same event in other
words, another key figure, a casualty update, a comment, a denial), with and without the embedder, and
`ticker stories match` (two headlines, --pairs FILE and its errors)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from ticker.cli import main
from ticker.stories import embed
from ticker.stories.match import CUT_OFF, Report, compare, fingerprints
from ticker.stories.pairs import PairsError, parse_pairs
from ticker.stories.text import read

RATE_UP = "ЦБ повысил ставку до 21%"
CASES = {
    # (a, b): same story?
    (RATE_UP, "Банк России поднял ключевую ставку до 21 процента"): True,
    (RATE_UP, "Центробанк сохранил ключевую ставку на уровне 19%"): False,
    ("Регулятор повысил ключевую ставку до 21%", "Банк России повысил ставку до 19%"): False,
    (
        "При обрушении склада в Новосибирске погибли пять человек",
        "Число погибших при обрушении склада в Новосибирске выросло до 7",
    ): True,
    (RATE_UP, "Набиуллина объяснила решение ЦБ повысить ставку до 21%"): False,
    (
        "Минфин США ввел санкции против трех российских судоверфей",
        "Штаты ввели санкции против трех судостроительных заводов России",
    ): True,
    (
        "СМИ сообщили об отставке главы Минэнерго",
        "В Кремле опровергли сообщения об отставке главы Минэнерго",
    ): False,
    (RATE_UP, "В Петербурге открылся новый мост через Неву"): False,
}


@pytest.fixture(scope="module")
def prints():
    """Every case's headline fingerprinted once (embedded in one batch when the embedder is installed),
    and once more without the embedder (the lexical fallback)."""
    reports = sorted({Report(t) for pair in CASES for t in pair}, key=lambda r: r.title)
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("TICKER_NO_EMBEDDER", raising=False)  # the shipped default (conftest turns it off)
        default = dict(zip(reports, fingerprints(reports), strict=True))
    return {
        "default": default,
        "lexical": dict(zip(reports, fingerprints(reports, vectors=[None] * len(reports)), strict=True)),
    }


@pytest.fixture(scope="module")
def verdicts(prints):
    """The verdict on every case, by the shipped model and by its lexical fallback."""
    return {
        variant: {(a, b): compare(fps[Report(a)], fps[Report(b)]) for a, b in CASES}
        for variant, fps in prints.items()
    }


@pytest.fixture
def lexical(monkeypatch):
    """The CLI without the embedder (quick; its verdicts are the lexical model's)."""
    monkeypatch.setenv("TICKER_NO_EMBEDDER", "1")


@pytest.mark.parametrize("variant", ["default", "lexical"])
@pytest.mark.parametrize(
    "pair", list(CASES), ids=[f"case{i}-{'same' if v else 'other'}" for i, v in enumerate(CASES.values())]
)
def test_story_rules(verdicts, variant, pair):
    verdict = verdicts[variant][pair]
    assert verdict.same is CASES[pair], verdict.explanation
    assert (verdict.score >= CUT_OFF) is verdict.same
    assert 0.0 <= verdict.score <= 1.0


def test_the_explanation_names_shared_terms_and_the_differing_figure(verdicts):
    same = verdicts["default"][(RATE_UP, "Банк России поднял ключевую ставку до 21 процента")]
    assert {"цб", "ставка", "21"} <= set(same.terms)  # "Банк России" folded into "цб"
    assert "цб" in same.explanation and "ставка" in same.explanation
    other = verdicts["default"][(RATE_UP, "Центробанк сохранил ключевую ставку на уровне 19%")]
    assert "21% vs 19%" in other.explanation
    comment = verdicts["default"][(RATE_UP, "Набиуллина объяснила решение ЦБ повысить ставку до 21%")]
    assert "comment" in comment.explanation


def test_the_embedder_is_used_when_installed(prints, embedder):
    a = prints["default"][Report(RATE_UP)]
    b = prints["default"][Report("Банк России поднял ключевую ставку до 21 процента")]
    assert (a.vector is not None) is embed.available()
    assert ("embedding cosine" in compare(a, b).explanation) is embed.available()
    assert ("learned vector term" in compare(a, b).explanation) is embed.available()
    assert prints["lexical"][Report(RATE_UP)].vector is None


def test_a_lead_adds_its_words():
    bare_a, bare_b, lead_a, lead_b = fingerprints(
        [
            Report("Совет директоров принял решение"),
            Report("Регулятор объявил итоги заседания"),
            Report("Совет директоров принял решение", "Банк России повысил ключевую ставку до 21%"),
            Report("Регулятор объявил итоги заседания", "ЦБ поднял ставку до 21% годовых"),
        ],
        vectors=[None] * 4,
    )
    assert compare(lead_a, lead_b).score > compare(bare_a, bare_b).score
    assert "ставка" in compare(lead_a, lead_b).terms


def test_reading_folds_aliases_and_reads_figures_with_their_rounding():
    assert read("Банк России поднял ключевую ставку").lemmas == ("цб", "повысить", "ставка")
    assert read("Европейский центральный банк снизил ставку").lemmas[0] == "ецб"  # not the ЦБ
    assert read("Штаты ввели пошлины").lemmas[0] == "сша"
    assert read("В штате Техас ввели режим ЧС").lemmas[0] != "сша"
    (precise,) = read("Госдолг вырос на 41,8%").numbers
    (rounded,) = read("Госдолг вырос на 42 процента").numbers
    (other,) = read("Госдолг вырос на 19%").numbers
    assert precise.key and precise.agrees(rounded) and not rounded.agrees(other)
    (toll,) = read("Число жертв превысило 2,1 тысячи").numbers
    assert toll.value == 2100 and not toll.key and str(toll) == "2100"


def test_a_risen_count_is_an_update_not_a_conflict():
    assert read("Число погибших при обрушении выросло до 7").update
    assert not read("При обрушении погибли пять человек").update
    first, risen, other = fingerprints(
        [
            Report("При обрушении склада погибли пять человек"),
            Report("Число погибших при обрушении склада выросло до 7"),
            Report("При обрушении склада погибли семь человек"),
        ],
        vectors=[None] * 3,
    )
    update = compare(first, risen)
    assert (
        update.features.values["count_conflict"] == 0.0 and "count 5 vs 7 (an update)" in update.explanation
    )
    assert compare(first, other).features.values["count_conflict"] == 1.0


def test_a_headline_without_words_matches_nothing():
    empty, dashes, title = fingerprints([Report(""), Report("— … —"), Report(RATE_UP)], vectors=[None] * 3)
    for a, b in ((empty, empty), (dashes, empty), (dashes, title)):
        verdict = compare(a, b)
        assert not verdict.same and verdict.score == 0.0 and "without words" in verdict.explanation


# --- the pairs file ----------------------------------------------------------------------------


def test_parse_pairs_reads_two_to_four_columns_in_order():
    data = "А1\tБ1\nА2\tБ2\tлид а\tлид б\r\nА3\tБ3\t\tлид б\n".encode()
    pairs = parse_pairs(data)
    assert [(p.title_a, p.title_b, p.lead_a, p.lead_b) for p in pairs] == [
        ("А1", "Б1", None, None),
        ("А2", "Б2", "лид а", "лид б"),
        ("А3", "Б3", None, "лид б"),
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "line 1: the file is empty"),
        ("А\tБ\nодна колонка\n".encode(), "line 2: 1 column,"),
        ("А\tБ\n".encode() + b"\xd0\n", "line 2: not valid UTF-8"),
        ("А\tБ\t\t\tлишнее\n".encode(), "line 1: 5 columns"),
        ("А\t \n".encode(), "line 1: an empty title"),
    ],
)
def test_parse_pairs_names_the_bad_line(data, message):
    with pytest.raises(PairsError, match=message):
        parse_pairs(data)


def run(*args: str, stdin: bytes | None = None):
    return CliRunner().invoke(main, ["stories", "match", *args], input=stdin)


def test_cli_pairs_prints_one_line_per_pair_in_order(tmp_path: Path, lexical):
    rows = [
        (RATE_UP, "Банк России поднял ключевую ставку до 21 процента", "same"),
        (RATE_UP, "Центробанк сохранил ключевую ставку на уровне 19%", "different"),
        (RATE_UP, "Банк России поднял ключевую ставку до 21 процента", "same"),  # a repeat, still printed
        (RATE_UP, "В Петербурге открылся новый мост через Неву", "different"),
    ]
    path = tmp_path / "pairs.tsv"
    path.write_text("".join(f"{a}\t{b}\n" for a, b, _ in rows), encoding="utf-8")
    for result in (run("--pairs", str(path)), run("--pairs", "-", stdin=path.read_bytes())):
        assert result.exit_code == 0, result.output
        lines = result.output.splitlines()
        assert len(lines) == len(rows)
        for line, (_, _, expected) in zip(lines, rows, strict=True):
            verdict, score, explanation = line.split("\t")
            assert verdict == expected
            assert 0.0 <= float(score) <= 1.0
            assert explanation.startswith("shared: ")


def test_cli_two_headlines():
    result = run(RATE_UP, "Банк России поднял ключевую ставку до 21 процента")
    assert result.exit_code == 0
    verdict, score, explanation = result.output.rstrip("\n").split("\t")
    assert verdict == "same" and float(score) >= CUT_OFF and "ставка" in explanation


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        (b"", "line 1: the file is empty"),
        ("А\tБ\nВ\tГ\nодна колонка\n".encode(), "line 3: 1 column"),
        ("А\tБ\n".encode() + b"\xff\xfe\tx\n", "line 2: not valid UTF-8"),
    ],
)
def test_cli_bad_pairs_file_is_one_error_line(tmp_path: Path, content, message, lexical):
    path = tmp_path / "pairs.tsv"
    if content is not None:
        path.write_bytes(content)
    result = run("--pairs", str(path))
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and message in lines[0], result.output


def test_cli_needs_two_headlines_or_a_file(lexical):
    for args in ([RATE_UP], ["--pairs", "-", RATE_UP, "B"]):
        result = run(*args, stdin=b"")
        assert result.exit_code != 0
        assert result.output.strip().startswith("Error:") and len(result.output.strip().splitlines()) == 1
