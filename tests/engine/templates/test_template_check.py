from templatecases import message, write

from engine.templates import TemplateLibrary


def problems(root, **kwargs):
    return [str(p) for p in TemplateLibrary(root).check(**kwargs)]


def test_a_good_folder_has_no_problems(tmp_path):
    write(tmp_path, {"m/en.html": message("S", "<p>{{ account.name }}</p>", "t"), "m/ja.html": message("S", "<p>x</p>", "t")})
    assert problems(tmp_path) == []


def test_every_kind_of_problem_is_reported_with_its_position(tmp_path):
    write(
        tmp_path,
        {
            "ok/en.html": message("S", "<p>x</p>", "t"),  # no ja version
            "broken/en.html": message("S", "<p>\n{% if %}\n</p>", "t"),
            "broken/ja.html": message("S", "<p>x</p>", "t"),
            "partial/en.html": '{% extends "_layouts/base.html" %}\n{% block subject %}S{% endblock %}\n{% block html %}x{% endblock %}\n',
            "partial/ja.html": "{% block subject %}S{% endblock %}{% block html %}x{% endblock %}{% block text %}t{% endblock %}",
            "typo/en.html": message("S", "<p>{{ acount.name }}</p>", '{% include "_partials/nope.txt" %}'),
            "typo/ja.html": message("S", "<p>x</p>", "t", layout="_layouts/missing.html"),
            "stray/en.txt": "x",
            "loose.html": "x",
        },
    )
    assert problems(tmp_path, required=["ok", "rule/needs-this"]) == [
        "broken/en.html:4: Expected an expression, got 'end of statement block'",
        "loose.html: not a message template: a message lives in a folder named for it, as <name>/<locale>.html",
        "partial/en.html: no text part: add {% block text %}...{% endblock %}",
        "partial/ja.html:1: does not extend a layout: start it with {% extends \"_layouts/base.html\" %}",
        (
            "stray/en.txt: not a message template: expected <name>/<locale>.html, such as onboarding/stalled/en.html "
            "(layouts and partials go in _layouts/ and _partials/)"
        ),
        f"typo/en.html:4: '_partials/nope.txt' does not exist in {tmp_path.name}/",
        (
            "typo/en.html:3: unknown variable 'acount'; templates see account, contact, owner, usage, rule, links, brand, now, "
            "locale, timezone, part, subject"
        ),
        f"typo/ja.html:1: '_layouts/missing.html' does not exist in {tmp_path.name}/",
        "ok/: no ja version: add ok/ja.html",
        "rule/needs-this/: template 'rule/needs-this' is used by a rule but does not exist: add rule/needs-this/en.html",
    ]


def test_layout_syntax_errors_are_found_too(tmp_path):
    write(tmp_path, {"_layouts/base.html": "{% if part %}\n{% endfor %}", "m/en.html": message("S", "x", "t")})
    (problem,) = problems(tmp_path, locales=["en"])
    assert problem.startswith("_layouts/base.html:2: Encountered unknown tag 'endfor'.")


def test_a_missing_folder_is_one_problem(tmp_path):
    assert problems(tmp_path / "absent") == [f"{tmp_path / 'absent'}: the templates folder does not exist (TOUCHLINE_TEMPLATES_DIR)"]
