"""Properties of the pure notification decisions: planning steps, keys, addresses,
webhook signatures and SMS length."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.chat.slack import valid_blocks
from tocsin.notifications import render, rules
from tocsin.notifications.message import Notification, Urgency
from tocsin.notifications.models import Channel
from tocsin.notifications.rules import RuleSpec, Target

targets = st.builds(
    Target,
    channel=st.sampled_from(list(Channel)),
    address=st.sampled_from(["a@example.test", "+14155550123", "https://h.example/x"]),
    method_id=st.integers(min_value=1, max_value=5),
)
specs = st.lists(
    st.builds(
        RuleSpec,
        urgency=st.sampled_from(list(Urgency)),
        delay_minutes=st.integers(min_value=0, max_value=rules.MAX_DELAY_MINUTES),
        target=targets,
    ),
    max_size=12,
)


@given(specs, st.sampled_from(list(Urgency)))
def test_plan_never_leaves_a_person_unreachable(
    given_rules: list[RuleSpec], urgency: Urgency
) -> None:
    steps = rules.plan(given_rules, urgency, "me@example.test")
    assert steps, "every notification reaches someone"
    matching = {(r.target, r.delay_minutes) for r in given_rules if r.urgency == urgency}
    if matching:
        assert {(s.target, s.delay_minutes) for s in steps} == matching
        assert len(steps) == len(matching)
    else:
        assert [(s.target.channel, s.target.address, s.delay_minutes) for s in steps] == [
            (Channel.EMAIL, "me@example.test", 0)
        ]
    delays = [s.delay_minutes for s in steps]
    assert delays == sorted(delays)


@given(
    st.integers(min_value=1),
    st.text(max_size=500),
    targets,
    st.integers(min_value=0, max_value=rules.MAX_DELAY_MINUTES),
)
def test_delivery_keys_fit_and_tell_steps_apart(
    user_id: int, dedup: str, target: Target, delay: int
) -> None:
    key = rules.delivery_key(user_id, dedup, target, delay)
    assert len(key) <= 200
    assert key == rules.delivery_key(user_id, dedup, target, delay)
    assert key != rules.delivery_key(user_id, dedup, target, delay + 1)
    assert key != rules.delivery_key(user_id, dedup + "x", target, delay)


@given(st.text(max_size=400), st.integers(min_value=20, max_value=400))
def test_shorten_respects_the_limit_and_keeps_short_text(text: str, limit: int) -> None:
    out = rules.shorten(text, limit)
    assert len(out) <= limit
    flat = " ".join(text.split())
    if len(flat) <= limit:
        assert out == flat
    else:
        assert out.endswith("...")


@given(st.text(min_size=1, max_size=50), st.binary(max_size=500), st.integers(0, 2**31))
def test_signatures_verify_only_for_the_same_secret_body_and_time(
    secret: str, body: bytes, timestamp: int
) -> None:
    header = rules.sign(secret, timestamp, body)
    assert rules.verify(secret, header, body, timestamp)
    assert rules.verify(secret, header, body, timestamp + rules.SIGNATURE_TOLERANCE_SECONDS)
    assert not rules.verify(secret, header, body + b"!", timestamp)
    assert not rules.verify(secret + "x", header, body, timestamp)
    assert not rules.verify(secret, header, body, timestamp + rules.SIGNATURE_TOLERANCE_SECONDS + 1)


@given(st.text(max_size=100))
def test_verify_never_crashes_on_garbage_headers(header: str) -> None:
    assert rules.verify("s", header, b"{}", 0) in (True, False)


@pytest.mark.parametrize(
    ("channel", "given_address", "normal"),
    [
        (Channel.SMS, "+49 151 1234 5678", "+4915112345678"),
        (Channel.VOICE, "+1 (415) 555-0123", "+14155550123"),
        (Channel.EMAIL, "Ada@Example.COM", "Ada@example.com"),
        (Channel.WEBHOOK, "https://hooks.example/t", "https://hooks.example/t"),
        (Channel.SLACK, " u024be7lh ", "U024BE7LH"),
        (Channel.SLACK, "W0123ABCD", "W0123ABCD"),
        (Channel.MATRIX, "@ada:example.org", "@ada:example.org"),
        (
            Channel.MATRIX,
            "@ops.bot=1:matrix.example.org:8448",
            "@ops.bot=1:matrix.example.org:8448",
        ),
    ],
)
def test_addresses_are_stored_in_canonical_form(
    channel: Channel, given_address: str, normal: str
) -> None:
    assert rules.normalise_address(channel, given_address) == normal


@pytest.mark.parametrize(
    ("channel", "bad"),
    [
        (Channel.SMS, "0151 1234 5678"),
        (Channel.SMS, "+1 555"),
        (Channel.VOICE, "call me"),
        (Channel.EMAIL, "not-an-address"),
        (Channel.WEBHOOK, "ftp://hooks.example/"),
        (Channel.WEBHOOK, "https://user:pw@hooks.example/"),
        (Channel.SLACK, "ada@example.com"),
        (Channel.SLACK, "@ada"),
        (Channel.SLACK, "C024BE7LH"),
        (Channel.MATRIX, "ada"),
        (Channel.MATRIX, "@Ada:example.org"),
        (Channel.MATRIX, "@ada"),
        (Channel.MATRIX, "#room:example.org"),
        (Channel.MATRIX, "@ada:" + "a" * 260),
    ],
)
def test_bad_addresses_are_refused(channel: Channel, bad: str) -> None:
    with pytest.raises(ValueError):
        rules.normalise_address(channel, bad)


@given(
    st.text(min_size=1, max_size=300),
    st.sampled_from(list(Urgency)),
    st.one_of(
        st.none(),
        st.from_regex(r"https://t\.example/p/[0-9]{1,6}/ack\?sig=[a-f0-9]{8,40}", fullmatch=True),
    ),
)
def test_an_sms_is_one_segment_and_keeps_the_acknowledge_link(
    subject: str, urgency: Urgency, link: str | None
) -> None:
    notification = Notification(
        subject=subject,
        body="details " * 50,
        urgency=urgency,
        source="test",
        dedup_key="k",
        page_id=1 if link else None,
        link=link,
    )
    text = render.sms(notification, "https://t.example")
    assert len(text) <= rules.SMS_LIMIT
    if link:
        assert text.endswith(link)


def test_templates_escape_html_but_not_plain_text() -> None:
    notification = Notification(
        subject="<b>db</b> & co", body="x", urgency=Urgency.LOW, source="test", dedup_key="k"
    )
    words = render.email(notification, "https://t.example")
    assert "&lt;b&gt;db&lt;/b&gt; &amp; co" in words.html
    assert words.subject == "<b>db</b> & co"
    assert words.text.startswith("<b>db</b> & co")


@given(st.from_regex(r"[UWuw][A-Za-z0-9]{2,20}", fullmatch=True))
def test_a_slack_member_id_is_stored_once_whatever_its_case(user_id: str) -> None:
    stored = rules.normalise_address(Channel.SLACK, user_id)
    assert stored == user_id.upper()
    assert rules.normalise_address(Channel.SLACK, stored) == stored


@given(st.text(max_size=40))
def test_only_member_ids_reach_slack(text: str) -> None:
    """Anything accepted opens a DM with exactly one member: no channel, no name, no mention."""
    try:
        stored = rules.normalise_address(Channel.SLACK, text)
    except ValueError:
        return
    assert stored[0] in "UW" and stored.isalnum() and stored == stored.upper()


@given(
    st.from_regex(r"@[a-z0-9._=/+-]{1,30}:[a-z0-9-]{1,20}(\.[a-z]{2,8}){0,2}", fullmatch=True),
    st.text(max_size=10).filter(str.strip),
)
def test_matrix_ids_are_kept_and_anything_around_them_is_refused(user_id: str, junk: str) -> None:
    assert rules.normalise_address(Channel.MATRIX, user_id) == user_id
    with pytest.raises(ValueError):
        rules.normalise_address(Channel.MATRIX, f"{user_id} {junk}")
    with pytest.raises(ValueError):
        rules.normalise_address(Channel.MATRIX, user_id[1:])


@given(
    st.text(min_size=1, max_size=400),
    st.text(max_size=4000),
    st.sampled_from(list(Urgency)),
)
def test_slack_blocks_stay_within_block_kit_limits_and_keep_the_ack_button(
    subject: str, body: str, urgency: Urgency
) -> None:
    link = "https://t.example/oncall/ack/abc.def"
    notification = Notification(
        subject=subject, body=body, urgency=urgency, source="s", dedup_key="k", page_id=3, link=link
    )
    blocks = render.slack_blocks(notification, "https://t.example")
    assert valid_blocks(blocks)
    [actions] = [b for b in blocks if b["type"] == "actions"]
    assert actions["elements"][0]["url"] == link
    assert actions["elements"][0]["text"]["text"] == "Acknowledge"


def test_alert_text_cannot_forge_links_or_mentions_in_slack() -> None:
    notification = Notification(
        subject="x",
        body="<!channel> <https://evil.example|click> & co",
        urgency=Urgency.HIGH,
        source="s",
        dedup_key="k",
    )
    [_, section, _] = render.slack_blocks(notification, "https://t.example")
    assert section["text"]["text"] == "&lt;!channel&gt; &lt;https://evil.example|click&gt; &amp; co"
    assert "<!channel>" in render.chat(notification, "https://t.example").text
