"""Names, places and plans the demo data is made of.

Japanese entries carry their romanisation for e-mail addresses and domains.
Every domain is under ``.example`` (reserved, never delivers mail).
"""

from __future__ import annotations

JA_FAMILY = (
    ("佐藤", "sato"), ("鈴木", "suzuki"), ("高橋", "takahashi"), ("田中", "tanaka"), ("伊藤", "ito"),
    ("渡辺", "watanabe"), ("山本", "yamamoto"), ("中村", "nakamura"), ("小林", "kobayashi"), ("加藤", "kato"),
    ("吉田", "yoshida"), ("山田", "yamada"), ("佐々木", "sasaki"), ("山口", "yamaguchi"), ("松本", "matsumoto"),
    ("井上", "inoue"), ("木村", "kimura"), ("林", "hayashi"), ("清水", "shimizu"), ("森", "mori"),
)  # fmt: skip
JA_GIVEN = (
    ("太郎", "taro"), ("花子", "hanako"), ("翔太", "shota"), ("陽菜", "hina"), ("大輔", "daisuke"),
    ("美咲", "misaki"), ("健太", "kenta"), ("さくら", "sakura"), ("拓海", "takumi"), ("結衣", "yui"),
    ("直樹", "naoki"), ("愛", "ai"), ("蓮", "ren"), ("葵", "aoi"), ("悠斗", "yuto"),
    ("真由美", "mayumi"), ("誠", "makoto"), ("恵", "megumi"), ("亮", "ryo"), ("由美", "yumi"),
)  # fmt: skip
EN_FIRST = (
    "Emma", "Liam", "Olivia", "Noah", "Ava", "James", "Sophia", "William", "Isabella", "Oliver",
    "Mia", "Benjamin", "Charlotte", "Lucas", "Amelia", "Henry", "Harper", "Jack", "Grace", "Leo",
)  # fmt: skip
EN_LAST = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Taylor", "Clark",
    "Walker", "Hall", "Young", "King", "Wright", "Scott", "Green", "Baker", "Adams", "Nelson",
)  # fmt: skip

JA_COMPANY_PREFIX = (
    ("さくら", "sakura"), ("青葉", "aoba"), ("富士", "fuji"), ("日の出", "hinode"), ("東和", "towa"),
    ("光", "hikari"), ("大和", "yamato"), ("みらい", "mirai"), ("朝日", "asahi"), ("緑川", "midorikawa"),
    ("北斗", "hokuto"), ("新星", "shinsei"), ("若葉", "wakaba"), ("白鷺", "shirasagi"), ("丸山", "maruyama"),
    ("千代田", "chiyoda"), ("銀河", "ginga"), ("陽光", "yoko"), ("桜井", "sakurai"), ("双葉", "futaba"),
)  # fmt: skip
JA_COMPANY_BUSINESS = (
    ("商事", "shoji"), ("製作所", "seisakusho"), ("システム", "system"), ("物流", "butsuryu"), ("食品", "shokuhin"),
    ("設計", "sekkei"), ("企画", "kikaku"), ("不動産", "fudosan"), ("電機", "denki"), ("工業", "kogyo"),
    ("ソフト", "soft"), ("出版", "shuppan"), ("薬品", "yakuhin"), ("建設", "kensetsu"), ("運輸", "unyu"),
)  # fmt: skip
EN_COMPANY_WORD = (
    "Bright", "Blue", "North", "Silver", "Red", "Swift", "Clear", "Bold", "Green", "Summit",
    "Harbor", "Maple", "Cedar", "Pioneer", "Evergreen", "Granite", "Copper", "Lunar", "Atlas", "Beacon",
)  # fmt: skip
EN_COMPANY_BUSINESS = (
    "Labs", "Works", "Analytics", "Logistics", "Health", "Foods", "Media", "Systems",
    "Robotics", "Finance", "Retail", "Studio", "Energy", "Design", "Freight", "Learning",
)  # fmt: skip
# Legal suffix by the account's home timezone.
EN_SUFFIX = {
    "America/New_York": ("Inc.", "LLC"),
    "America/Los_Angeles": ("Inc.", "LLC"),
    "Europe/London": ("Ltd",),
    "Europe/Berlin": ("GmbH",),
    "Australia/Sydney": ("Pty Ltd",),
}
# English-speaking accounts' timezones and how common each is.
EN_TIMEZONES = (
    ("America/New_York", 30), ("America/Los_Angeles", 20), ("Europe/London", 20),
    ("Europe/Berlin", 15), ("Australia/Sydney", 15),
)  # fmt: skip
JA_SHARE = 0.35

# Success managers who own the high- and low-touch accounts.
OWNERS_JA = ("aiko.tanaka@success.example.com", "kenji.mori@success.example.com")
OWNERS_EN = (
    "sarah.collins@success.example.com",
    "david.park@success.example.com",
    "laura.becker@success.example.com",
    "tom.hughes@success.example.com",
)

INDUSTRIES = ("saas", "retail", "manufacturing", "logistics", "healthcare", "education", "finance", "media")

# (plan, lowest MRR, highest MRR, rounding) per tier; tech-touch has two self-serve plans.
PLANS = {
    "high": (("enterprise", 4000, 25000, 100),),
    "low": (("business", 600, 3500, 50),),
    "tech": (("starter", 29, 99, 1), ("team", 149, 499, 1)),
}
PLAN_WEIGHTS = {"high": (1,), "low": (1,), "tech": (6, 4)}
TIER_SHARES = (("high", 0.05), ("low", 0.25))  # the rest is tech-touch
# How many contacts an account has, by tier (inclusive).
CONTACTS_PER_TIER = {"high": (4, 8), "low": (2, 6), "tech": (1, 4)}

REPORTS = ("weekly-summary", "pipeline", "usage-by-team", "revenue", "retention")
PROJECT_TEMPLATES = ("blank", "marketing-launch", "sprint-board", "client-onboarding")
INTEGRATIONS = ("slack", "salesforce", "hubspot", "google-drive", "zapier")
