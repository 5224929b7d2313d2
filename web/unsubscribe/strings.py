"""What the public pages say, in English and Japanese.

Kept as two dictionaries rather than a translation framework: these four
pages are the only recipient-facing web pages, and they need only two languages.
"""

from __future__ import annotations

from flask import request

from engine.compliance import GENERAL

LOCALES = ("en", "ja")

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "sent_by": "Sent by {company}",
        "questions": "Questions:",
        "confirm_title": "Unsubscribe",
        "confirm_lead": "Stop sending {category} emails to {address}?",
        "confirm_all_lead": "Stop sending all emails to {address}?",
        "confirm_button": "Unsubscribe",
        "already": "You are already unsubscribed from these emails.",
        "manage": "Manage email preferences",
        "done_title": "You are unsubscribed",
        "done_body": "{address} will no longer get {category} emails from us.",
        "done_all_body": "{address} will no longer get emails from us.",
        "undo": "Resubscribe",
        "operational_title": "These messages are always sent",
        "operational_body": (
            "Messages about your account, such as security and billing notices, cannot be turned off. "
            "You can choose which other emails you get."
        ),
        "prefs_title": "Email preferences",
        "prefs_for": "Emails to {address}",
        "col_category": "Emails",
        "col_status": "Status",
        "subscribed": "Subscribed",
        "unsubscribed": "Unsubscribed",
        "bounced": "Stopped: messages to this address bounced",
        "complained": "Stopped: a message was reported as spam",
        "leave": "Unsubscribe",
        "rejoin": "Resubscribe",
        "leave_all": "Unsubscribe from all",
        "rejoin_all": "Resubscribe to all",
        "left_all": "You are unsubscribed from all emails, except those you resubscribed to below.",
        "saved_leave": "You are unsubscribed from {category} emails.",
        "saved_rejoin": "You are resubscribed to {category} emails.",
        "saved_leave_all": "You are unsubscribed from all emails.",
        "saved_rejoin_all": "You are resubscribed to all emails.",
        "still_suppressed": "We still cannot send to this address: {reason}.",
        "why_bounced": "messages to it bounced",
        "why_complained": "a message to it was reported as spam",
        "always_sent": "Messages about your account (security, billing) are always sent.",
        "bad_title": "This link does not work",
        "bad_body": (
            "We could not read this link. Use the link in the most recent email, "
            "and check that your mail program did not split it over two lines."
        ),
        "bad_detail": "Problem",
        "bad_request": "This form was not sent as expected; reload the page and try again.",
        "category_general": "General",
        # The shipped rules' categories (rules/*.yaml); others read as their slug in words.
        "category:onboarding": "Onboarding",
        "category:product-tips": "Product tips",
        "category:reengagement": "Re-engagement",
        "category:renewals": "Renewals",
        "category:csm-alerts": "Account team alerts",
        "error_title": "Something went wrong",
        "error_body": "This page could not be shown. Try the link in the email again in a few minutes.",
    },
    "ja": {
        "sent_by": "送信者: {company}",
        "questions": "お問い合わせ:",
        "confirm_title": "配信停止",
        "confirm_lead": "{address} への「{category}」のメール配信を停止しますか？",
        "confirm_all_lead": "{address} へのすべてのメール配信を停止しますか？",
        "confirm_button": "配信を停止する",
        "already": "このメールの配信はすでに停止されています。",
        "manage": "メール配信の設定",
        "done_title": "配信を停止しました",
        "done_body": "今後、{address} に「{category}」のメールはお送りしません。",
        "done_all_body": "今後、{address} にメールはお送りしません。",
        "undo": "配信を再開する",
        "operational_title": "このメールは停止できません",
        "operational_body": (
            "セキュリティや請求など、アカウントに関する大切なお知らせは停止できません。"
            "その他のメールは配信設定で選べます。"
        ),
        "prefs_title": "メール配信の設定",
        "prefs_for": "{address} 宛てのメール",
        "col_category": "メールの種類",
        "col_status": "状態",
        "subscribed": "配信中",
        "unsubscribed": "停止中",
        "bounced": "停止中（この宛先に届きませんでした）",
        "complained": "停止中（迷惑メールとして報告されました）",
        "leave": "停止する",
        "rejoin": "再開する",
        "leave_all": "すべて停止する",
        "rejoin_all": "すべて再開する",
        "left_all": "すべてのメール配信を停止しています（下で再開したものを除く）。",
        "saved_leave": "「{category}」のメール配信を停止しました。",
        "saved_rejoin": "「{category}」のメール配信を再開しました。",
        "saved_leave_all": "すべてのメール配信を停止しました。",
        "saved_rejoin_all": "すべてのメール配信を再開しました。",
        "still_suppressed": "この宛先には現在お送りできません（{reason}）。",
        "why_bounced": "メールが届きませんでした",
        "why_complained": "迷惑メールとして報告されました",
        "always_sent": "アカウントに関する大切なお知らせ（セキュリティ、請求など）は常にお送りします。",
        "bad_title": "このリンクは使えません",
        "bad_body": (
            "リンクを読み取れませんでした。最新のメールにあるリンクをお使いいただくか、"
            "リンクが途中で改行されていないかご確認ください。"
        ),
        "bad_detail": "詳細",
        "bad_request": "フォームを正しく送信できませんでした。ページを再読み込みしてもう一度お試しください。",
        "category_general": "一般のお知らせ",
        "category:onboarding": "ご利用開始のご案内",
        "category:product-tips": "製品活用のヒント",
        "category:reengagement": "ご利用再開のご案内",
        "category:renewals": "契約更新のお知らせ",
        "category:csm-alerts": "担当チームからのお知らせ",
        "error_title": "問題が発生しました",
        "error_body": "このページを表示できませんでした。しばらくしてから、メールのリンクをもう一度お試しください。",
    },
}


def pick_locale(token_locale: str | None = None) -> str:
    """The token's locale when it names one we have, else the browser's Accept-Language, else English."""
    if token_locale:
        base = token_locale.replace("_", "-").split("-")[0].lower()
        if base in LOCALES:
            return base
    return request.accept_languages.best_match(LOCALES, default="en") or "en"


def category_label(category: str | None, strings: dict[str, str]) -> str:
    """A category as a recipient reads it, in their language: its label when it has one,
    else its slug in words (``product-updates`` -> ``Product updates``)."""
    if category is None or category == GENERAL:
        return strings["category_general"]
    if f"category:{category}" in strings:
        return strings[f"category:{category}"]
    words = category.replace("_", " ").replace("-", " ").strip()
    return words[:1].upper() + words[1:]
