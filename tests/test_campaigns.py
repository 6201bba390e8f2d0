"""Campaign files, message templates and the enrollment state machine."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from outreach.campaigns import enrollment as drip
from outreach.campaigns.schema import CampaignError, load_campaign, load_campaigns
from outreach.campaigns.templates import TemplateError, load_template, render

MARKETS = {"orange_fl", "seminole_fl", "osceola_fl", "lake_fl", "volusia_fl"}
CONTEXT = {"owner_first_name": "Pat", "agent_name": "Sam", "sender_name": "Sunshine Buyers",
           "county_name": "Orange", "property_address": "12 Elm St",
           "market_context": "We are local.", "postal_address": "100 Main St, Orlando, FL",
           "unsubscribe_url": "https://example.com/u/1"}
GOOD_TOUCHES = """touches:
  - {day: 0, channel: sms, template: sms_intro_v1}
  - {day: 3, channel: email, template: email_intro_v1}
  - {day: 14, channel: sms, template: sms_last_v1}
"""


def _campaign(tmp_path: Path, body: str, name: str = "test_drip") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"name: {name}\nmarkets: [orange_fl]\ndaily_volume_cap: 10\n{body}")
    return path


def test_the_shipped_campaigns_are_valid():
    campaigns = load_campaigns(known_markets=MARKETS)
    assert campaigns and all(not campaign.live for campaign in campaigns)


@pytest.mark.parametrize(("touches", "field", "reason"), [
    ("touches:\n  - {day: 0, channel: sms, template: sms_intro_v1}\n"
     "  - {day: 14, channel: sms, template: sms_last_v1}\n", "touches", "at least 3"),
    (GOOD_TOUCHES.replace("day: 0,", "day: 1,"), "touches", "day 0"),
    (GOOD_TOUCHES.replace("day: 14", "day: 10"), "touches", "day 14-21"),
    (GOOD_TOUCHES.replace("day: 3", "day: 0"), "touches", "later day"),
    (GOOD_TOUCHES.replace("channel: email, template: email_intro_v1",
                          "channel: sms, template: email_intro_v1"),
     "touches.1.template", "is an email template"),
    (GOOD_TOUCHES.replace("sms_last_v1", "no_such_template"), "touches.2.template",
     "no such template"),
    (GOOD_TOUCHES + "surprise: 1\n", "surprise", "Extra inputs"),
])
def test_invalid_campaigns_name_the_file_and_field(tmp_path, touches, field, reason):
    path = _campaign(tmp_path, touches)
    with pytest.raises(CampaignError) as raised:
        load_campaign(path, known_markets=MARKETS)
    assert any(problem.startswith(f"{path}: {field}") and reason in problem
               for problem in raised.value.problems), raised.value.problems


def test_unknown_market_and_name_mismatch_are_refused(tmp_path):
    path = tmp_path / "other_name.yaml"
    path.write_text("name: test_drip\nmarkets: [dade_fl]\ndaily_volume_cap: 10\n" + GOOD_TOUCHES)
    with pytest.raises(CampaignError) as raised:
        load_campaign(path, known_markets=MARKETS)
    text = str(raised.value)
    assert "must match the file name" in text and "unknown market(s) ['dade_fl']" in text


def test_templates_must_carry_stop_identity_address_and_unsubscribe(tmp_path):
    (tmp_path / "sms_bad.yaml").write_text(
        "version: 1\nchannel: sms\nbody: Hi {{ owner_first_name }}, sell your house?\n")
    with pytest.raises(TemplateError, match="Reply STOP"):
        load_template("sms_bad", tmp_path)
    (tmp_path / "email_bad.yaml").write_text(
        "version: 1\nchannel: email\nsubject: Hi\nbody: 'Hi {{ unsubscribe_url }}'\n"
        "html: '<p>{{ postal_address }} {{ unsubscribe_url }}</p>'\n")
    with pytest.raises(TemplateError, match="body must contain"):
        load_template("email_bad", tmp_path)


def test_rendering_refuses_missing_variables_and_escapes_html():
    email = load_template("email_intro_v1")
    with pytest.raises(TemplateError, match="postal_address"):
        render(email, {k: v for k, v in CONTEXT.items() if k != "postal_address"})
    message = render(email, {**CONTEXT, "property_address": "<b>12 Elm</b>"})
    assert "&lt;b&gt;12 Elm&lt;/b&gt;" in message.html and "<b>12 Elm</b>" in message.body
    assert CONTEXT["postal_address"] in message.body and CONTEXT["unsubscribe_url"] in message.html


def test_sms_segments_follow_gsm7_and_ucs2():
    sms = load_template("sms_intro_v1")
    plain = render(sms, CONTEXT)
    assert plain.sms_encoding == "GSM-7" and plain.sms_segments == 1
    emoji = render(sms, {**CONTEXT, "owner_first_name": "Pat 🙂"})
    assert emoji.sms_encoding == "UCS-2" and emoji.sms_segments == 3


def _drip(tmp_path):
    return load_campaign(_campaign(tmp_path, GOOD_TOUCHES), known_markets=MARKETS)


def test_enrollment_walks_its_touches_to_completed(tmp_path):
    campaign = _drip(tmp_path)
    state = drip.Enrollment(enrolled_on=date(2026, 11, 2))
    assert state.state == "not_started" and drip.due_on(state, campaign) == date(2026, 11, 2)
    state = drip.touch_sent(state, campaign, date(2026, 11, 2))
    assert state.state == "touch_1_sent" and drip.due_on(state, campaign) == date(2026, 11, 5)
    assert not drip.is_due(state, campaign, date(2026, 11, 4))
    # Touch 2 held back two days: touch 3 keeps its planned gap of 11 days after it.
    state = drip.touch_sent(state, campaign, date(2026, 11, 7))
    assert drip.due_on(state, campaign) == date(2026, 11, 18)
    state = drip.touch_sent(state, campaign, date(2026, 11, 18))
    assert state.state == "completed" and drip.next_touch(state, campaign) is None
    with pytest.raises(drip.TransitionError):
        drip.touch_sent(state, campaign, date(2026, 11, 19))


def test_stop_is_final_and_pause_resumes_where_it_was(tmp_path):
    campaign = _drip(tmp_path)
    state = drip.touch_sent(drip.Enrollment(enrolled_on=date(2026, 11, 2)), campaign,
                            date(2026, 11, 2))
    paused = drip.pause(state)
    assert paused.state == "paused" and drip.next_touch(paused, campaign) is None
    assert drip.resume(paused) == state
    stopped = drip.stop(state, "opt_out")
    assert stopped.state == "stopped:opt_out" and not drip.is_due(stopped, campaign,
                                                                   date(2027, 1, 1))
    assert drip.stop(stopped, "reply").stop_reason == "opt_out"
    assert drip.resume(drip.pause(stopped)) == stopped
    with pytest.raises(drip.TransitionError, match="unknown stop reason"):
        drip.stop(state, "bored")


def test_campaigns_validate_command_exits_non_zero_naming_the_problem(tmp_path):
    from typer.testing import CliRunner

    from pipelines.cli import app

    path = _campaign(tmp_path, GOOD_TOUCHES.replace("day: 14", "day: 30"))
    result = CliRunner().invoke(app, ["campaigns", "validate", str(path)])
    assert result.exit_code == 1
    assert f"{path}: touches" in result.output
    ok = CliRunner().invoke(app, ["campaigns", "validate"])
    assert ok.exit_code == 0 and "ok: fl_cash_offer_v1" in ok.output
