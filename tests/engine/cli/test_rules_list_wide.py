from datetime import timedelta

from click.testing import CliRunner
from sqlalchemy import insert

from engine.cli import cli
from engine.models import Account, Delivery, RuleVersion, utcnow
from engine.rules.gallery import default_rules_dir
from engine.rules.versions import apply_rules, pause_rule, read_rules


def run(*args):
    return CliRunner().invoke(cli, list(args))


def test_wide_list_shows_the_admins_columns(db):
    assert run("rules", "list", "--wide").output == "no rules applied yet; run touchline apply\n"
    with db.session() as s:
        apply_rules(s, read_rules([str(default_rules_dir())]).rules, "ann")
        pause_rule(s, "renewal-within-60-days", "circuit breaker: more than 1,000 messages in one cycle")
        account = s.scalar(insert(Account).values(external_id="acme", name="Acme").returning(Account.id))
        version = s.query(RuleVersion.id).filter_by(rule_id="onboarding-stalled-day7").scalar()
        for n, (status, age) in enumerate((("sent", 1), ("sent", 2), ("skipped", 3), ("sent", 9))):
            s.execute(insert(Delivery).values(
                dedupe_key=f"k{n}", rule_id="onboarding-stalled-day7", rule_version_id=version, action_index=0,
                channel="email", template="t", account_id=account, recipient="a@x.test", occurrence=str(n),
                status=status, created_at=utcnow() - timedelta(days=age)))  # fmt: skip
    result = run("rules", "list", "--wide")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:4] == ["RULE", "NAME", "CATEGORY", "TRIGGER"]
    row = next(line for line in lines if line.startswith("onboarding-stalled-day7"))
    assert "Stalled onboarding, day 7" in row and "onboarding" in row and "on_enter" in row and "active" in row
    assert row.split()[-4:] == ["0", "2", "0", "1"]  # in segment, sent, held out, skipped: the 9-day-old send is out
    tripped = lines.index(next(line for line in lines if line.startswith("renewal-within-60-days")))
    assert " tripped " in lines[tripped]
    assert lines[tripped + 1].startswith("  tripped: circuit breaker:")
