"""Templates: every kind and channel renders from a complete and from a minimal event, in
Chinese, with the facts the recipient needs and SMS within their segments."""

from datetime import UTC, datetime

import pytest

from services.notify.domain import recipients
from services.notify.domain.recipients import Item
from services.notify.domain.text import MessageTooLong, SmsPolicy
from services.notify.rulebook import load_rulebook
from tests.support.notify_samples import CASE, COMPLETE, CONTACTS, MINIMAL, UNITS, envelope, received

RULES, RENDERER = load_rulebook({})
VIEW = {"unit": "140106:hrss", "level": "county"}


def event_for(kind: str, variant: str) -> dict:
    rule = next(r for r in RULES.messages if r.kind == kind)
    data = dict((COMPLETE if variant == "complete" else MINIMAL)[(rule.source, rule.event_type)])
    for key, value in rule.when:  # the variant of the event this rule picks (colour red, level overdue …)
        data[key] = value[0] if isinstance(value, tuple) else value
    if kind.startswith("appointment_"):
        data["purpose"] = "counselling"
    return received(envelope(rule.source, rule.event_type, data))


def rendered(kind: str, channel: str, variant: str, units=UNITS):
    """Every message of one kind and channel an event causes, rendered."""
    event = event_for(kind, variant)
    matching = [r for r in RULES.for_event(event["source"], event["event_type"], event["data"]) if r.kind == kind]
    wanted = recipients.needed_units(matching, event, VIEW)
    known = {unit_id: units.get(unit_id) for unit_id in wanted}
    plan = recipients.plan(matching, event, case_view=VIEW, contacts=CONTACTS, units=known)
    out = []
    for target in plan.targets:
        if target.channel == channel:
            context = RENDERER.context(target.rule, event, target.item, target.recipient, known)
            out.append(RENDERER.render(target.rule, channel, context))
    if not out and matching and variant == "minimal":
        # A minimal event may name no such recipient (no departments invited to a session):
        # the template must still render from what the event holds.
        unit = recipients.unit_recipient(UNITS["140106:hrss"])
        context = RENDERER.context(matching[0], event, Item(), unit, {**known, "140106:hrss": UNITS["140106:hrss"]})
        out.append(RENDERER.render(matching[0], channel, context))
    return out


PAIRS = sorted(RULES.templates)


@pytest.mark.parametrize("variant", ["complete", "minimal"])
@pytest.mark.parametrize("kind,channel", PAIRS, ids=[f"{k}-{c}" for k, c in PAIRS])
def test_every_template_renders_from_a_complete_and_a_minimal_event(kind, channel, variant):
    messages = rendered(kind, channel, variant)
    assert messages, f"no {kind} message on {channel} for the {variant} event"
    for message in messages:
        assert CASE["case_code"] in message.body
        assert "None" not in message.body and "{{" not in message.body and "{%" not in message.body
        assert message.title and any("\u4e00" <= ch <= "\u9fff" for ch in message.body)
        if channel == "sms":
            assert message.body.startswith(RULES.sms.signature)
            assert "\n" not in message.body
            assert 1 <= message.segments <= RULES.sms.max_segments
        else:
            assert message.segments is None


def test_the_receipt_sms_carries_the_case_code_and_how_to_follow_it():
    [sms] = rendered("case_received", "sms", "complete")
    assert sms.body == ("【矛调中心】您反映的劳动纠纷已登记受理，案件编号140106-261123-LB-0042-7。"
                        "凭编号和登记手机号后四位可查询进度："
                        "http://127.0.0.1:8001/api/v1/public/progress/140106-261123-LB-0042-7")
    assert len(sms.body) == 134 and sms.segments == 2  # two 67-character parts of one concatenated SMS
    [inbox] = rendered("case_received", "inbox", "complete")
    assert "人民法院委派的诉前调解案件，调解期限至2026年12月23日" in inbox.body


def test_the_summons_says_when_to_report_and_how_to_acknowledge():
    sms = {m.body for m in rendered("summons", "sms", "complete")}
    hrss = next(body for body in sms if "人力资源" in body)
    assert "请于2026年11月23日 10:30前到综治中心报到" in hrss  # 02:30 UTC is 10:30 in Taiyuan
    assert "http://127.0.0.1:8002/api/v1/summons/sm-hrss-1/ack" in hrss
    assert "你单位今日在中心值守" in hrss
    email = next(m.body for m in rendered("summons", "email", "complete") if "住房" in m.body)
    assert "报到时限：2026年11月23日 10:40前" in email and "sm-housing-1/ack" in email


def test_session_notices_give_the_video_link_or_the_place():
    video = {m.body for m in rendered("session_scheduled", "sms", "complete")}
    assert len(video) == 1  # the same text to both parties
    [text] = video
    assert "调解时间已调整，改定于2026年11月25日 10:00进行视频调解" in text and "https://meet.example.cn/j/8812" in text
    on_site = rendered("session_scheduled", "inbox", "minimal")[0].body
    assert "地点：综治中心调解室" in on_site and "2026年11月24日 11:00" in on_site
    department = next(m.body for m in rendered("session_scheduled", "inbox", "complete") if "人力资源" in m.body)
    assert department.startswith("迎泽区人力资源和社会保障局：") and "请你单位派员参加" in department
    reminder = rendered("session_reminder", "inbox", "complete")[0].body
    assert "将于明天开始" in reminder
    assert "将于两小时后开始" in rendered("session_reminder", "inbox", "minimal")[0].body
    cancelled = rendered("session_cancelled", "inbox", "complete")[0].body
    assert "原定于2026年11月25日 10:00的调解已取消" in cancelled and "申请人因病申请延期" in cancelled


def test_legal_aid_and_counselling_appointments_name_the_service():
    assert "已为您预约心理疏导" in rendered("appointment_scheduled", "sms", "complete")[0].body
    assert "严格保密" in rendered("appointment_scheduled", "inbox", "minimal")[0].body


def test_court_results_carry_ruling_reasons_and_docket_numbers():
    assert "（2026）晋0106民特123号" in rendered("confirmation_granted", "sms", "complete")[0].body
    rejected = rendered("confirmation_rejected", "inbox", "complete")[0].body
    assert "理由：协议内容违反法律强制性规定；当事人身份信息不完整" in rejected
    filed = rendered("case_filed", "sms", "complete")[0].body
    assert "在综治中心就地速裁" in filed and "（2026）晋0106民初4567号" in filed


def test_the_court_clerk_hears_which_message_is_stuck_and_why():
    bodies = [m.body for m in rendered("court_message_stuck", "inbox", "complete")]
    [clerk] = [body for body in bodies if body.startswith("迎泽区人民法院")]
    [centre] = [body for body in bodies if body.startswith("迎泽区综治中心")]
    assert clerk.startswith("迎泽区人民法院：") and "调解结果反馈消息向你院业务系统推送已连续失败6次" in clerk
    assert "委派编号REF-2026-001" in clerk and "消息编号：cm-77" in clerk
    assert "最近一次错误：court system answered 503" in clerk
    assert "向迎泽区人民法院业务系统推送" in centre and "已通知迎泽区人民法院联络员核查" in centre
    assert "诉调对接消息" in rendered("court_message_stuck", "wechat", "minimal")[0].body  # an operation without label


def test_the_parties_hear_when_the_window_for_judicial_confirmation_closes():
    soon = rendered("confirmation_due_soon", "sms", "complete")[0].body
    assert "申请司法确认的期限至2026年11月26日 10:00届满" in soon and "双方" in soon
    unit = next(m.body for m in rendered("confirmation_due_soon", "inbox", "complete") if "：" in m.body[:15])
    assert "协助双方共同向迎泽区人民法院提出" in unit and "agr-1" in unit
    overdue = rendered("confirmation_overdue", "sms", "minimal")[0].body
    assert "已于2026年11月23日 09:00届满" in overdue and "向人民法院起诉" in overdue


def test_the_agreement_notice_has_amount_and_deadline():
    inbox = rendered("agreement_reached", "inbox", "complete")[0].body
    assert "部分调解协议" in inbox and "1800000.00元" in inbox and "2026年12月31日前" in inbox


def test_staff_messages_name_units_and_colours():
    assert "迎泽区综治中心" in rendered("case_assigned", "sms", "complete")[0].body
    red = {m.body for m in rendered("warning_red", "inbox", "complete")}
    assert all(body.startswith("【红色督办单】") for body in red)
    assert any("负责同志" in body for body in red)  # leaders are addressed as such
    lead = next(m.body for m in rendered("assignment", "inbox", "complete") if m.body.startswith("迎泽区人力"))
    assert "你单位为牵头单位" in lead and "响应联系时限：2026年11月23日 10:30前" in lead
    instruction = rendered("leader_instruction", "inbox", "complete")[0].body
    assert "确保不发生群体性事件。\n" in instruction and "。。" not in instruction
    escalated = rendered("case_escalated", "inbox", "complete")[0].body
    assert "已由迎泽街道办事处（乡镇（街道））提级至县（区）层级" in escalated


def test_a_unit_the_directory_cannot_name_is_called_related_unit():
    units = {k: v for k, v in UNITS.items() if k != "140106:centre"}
    event = received(envelope("routing", "case_assigned"))
    rule = next(r for r in RULES.messages if r.kind == "case_assigned")
    applicant = recipients.party_recipient(CONTACTS[0])
    context = RENDERER.context(rule, event, Item(), applicant, {"140106:centre": units.get("140106:centre")})
    assert "已交由相关单位办理" in RENDERER.render(rule, "sms", context).body


def test_an_sms_over_its_segments_is_refused():
    data = {**COMPLETE[("mediation", "session_scheduled")], "join_link": None, "place": "调解室" * 100}
    event = received(envelope("mediation", "session_scheduled", data))
    rule = next(r for r in RULES.messages if r.kind == "session_scheduled")
    context = RENDERER.context(rule, event, Item(), recipients.party_recipient(CONTACTS[0]), {})
    with pytest.raises(MessageTooLong, match="needs 6 segments; at most 4"):
        RENDERER.render(rule, "sms", context)


@pytest.mark.parametrize("length,segments", [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (268, 4)])
def test_sms_segments(length, segments):
    assert SmsPolicy(signature="").segments("字" * length) == segments


def test_sms_longer_than_the_limit_is_refused():
    with pytest.raises(MessageTooLong):
        SmsPolicy(signature="", max_segments=4).segments("字" * 269)


def test_times_are_shown_in_local_time():
    assert RENDERER.local_time(datetime(2026, 1, 31, 16, 5, tzinfo=UTC)) == "2026年2月1日 00:05"
    assert RENDERER.local_date("2026-12-31") == "2026年12月31日"
    assert RENDERER.local_time(None) == ""
