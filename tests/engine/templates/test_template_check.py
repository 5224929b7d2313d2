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


def test_what_jinja_refuses_when_compiling_is_a_positioned_problem(tmp_path):
    # Parsing accepts these; compiling (as render does) refuses them. check used to crash with a traceback.
    nested = message("S", '<p>x</p>\n{% extends "_layouts/base.html" %}', "t")
    twice = message("S", "x", "t").replace("{% block text %}", "{% block html %}y{% endblock %}\n{% block text %}")
    write(tmp_path, {"nested/en.html": nested, "nested/ja.html": message("S", "x", "t"),
                     "twice/en.html": twice, "twice/ja.html": message("S", "x", "t")})  # fmt: skip
    assert problems(tmp_path) == [
        "nested/en.html:4: cannot use extend from a non top-level scope",
        "twice/en.html:4: block 'html' defined twice",
    ]


def test_what_the_sandbox_would_refuse_is_found_without_rendering(tmp_path):
    html = (
        "<p>{{ account.__class__ }}</p>\n"
        "<p>{{ usage._rows }}</p>\n"
        "<p>{{ account }}</p>\n"
        '<p>{{ "%s"|format(contact) }}</p>\n'
        "<p>{{ owner|string }}{{ account.traits['_x'] }}{{ account.name }}{{ '%s'|format(account.name) }}</p>"
    )
    text = '{% include "../secret.txt" %}\n{% include "/etc/passwd" %}\n{% include "_partials/x.txt" %}'
    (tmp_path / "secret.txt").write_text("outside")  # next to the folder: it exists, and must not count
    root = write(tmp_path / "lib", {"m/en.html": message("S", html, text), "m/ja.html": message("S", "x", "t"),
                                    "_partials/x.txt": "x"})  # fmt: skip
    name = root.name
    assert problems(root) == [
        f"m/en.html:8: '../secret.txt' is outside {name}/: name a file in the folder, such as '_partials/footer.html'",
        f"m/en.html:9: '/etc/passwd' does not exist in {name}/",
        "m/en.html:3: attribute '__class__': names starting with '_' are Python internals the sandbox refuses "
        "(a key of that name: write ['__class__'])",
        "m/en.html:4: attribute '_rows': names starting with '_' are Python internals the sandbox refuses (a key of that name: write ['_rows'])",
        "m/en.html:5: prints account itself, which is not text: print one of its fields, such as account.name",
        "m/en.html:6: prints contact itself, which is not text: print one of its fields, such as contact.name",
        "m/en.html:7: prints owner itself, which is not text: print one of its fields, such as owner.email",
    ]


def test_a_template_nested_past_pythons_limits_is_a_problem_not_a_crash(tmp_path):
    deep = "{% if part %}" * 400 + "x" + "{% endif %}" * 400
    write(tmp_path, {"deep/en.html": message("S", deep, "t"), "deep/ja.html": message("S", "x", "t")})
    assert problems(tmp_path) == ["deep/en.html: nested too deeply: split the template into smaller macros or partials"]
