"""Accounts as the admin reads them: search with filters, and one account's whole picture."""

from engine.accounts.detail import AccountDetail, UnknownAccount, account_detail
from engine.accounts.search import AccountFilter, AccountPage, AccountRow, FilterChoices, SearchError, filter_choices, search_accounts

__all__ = [
    "AccountDetail",
    "AccountFilter",
    "AccountPage",
    "AccountRow",
    "FilterChoices",
    "SearchError",
    "UnknownAccount",
    "account_detail",
    "filter_choices",
    "search_accounts",
]
