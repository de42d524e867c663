"""The parsers' first step, `refuse_costly_markup`: the tree model runs on every body that could
cost the parser much, and is skipped only where no shape can (small bodies without long tags)."""

from __future__ import annotations

import pytest

from ticker.base import ParseError
from ticker.scraper import markup_guard

pytestmark = pytest.mark.reliability


def test_a_small_body_skips_the_model(monkeypatch):
    def model_must_not_run(body):
        raise AssertionError("the model ran on a small body")

    monkeypatch.setattr(markup_guard, "check_markup", model_must_not_run)
    markup_guard.refuse_costly_markup(b"<html><body>" + b"<p>x</p>" * 1000 + b"</body></html>")


@pytest.mark.parametrize(
    ("name", "body", "message"),
    [
        ("one tag with 200,000 attributes", b"<div " + b" ".join(b"a%d" % i for i in range(200_000)) + b">",
         "attributes on one tag"),
        ("one tag just over the long-tag limit, nested deep behind it",
         b"<div x='" + b"y" * markup_guard.LONG_TAG_BYTES + b"'>" + b"<div>" * 5_000, "nested"),
        ("nesting just past the small-body limit",
         b"<div>" * (markup_guard.SMALL_DOCUMENT_TAGS + 1_000), "nested"),
    ],
)  # fmt: skip
def test_bodies_that_could_cost_much_go_through_the_model(name, body, message):
    # 5,000 <div> behind a long tag: few "<", but the long tag sends it to the model, which
    # refuses the depth the shortcut alone would have let through.
    with pytest.raises(ParseError, match=message):
        markup_guard.refuse_costly_markup(body)
