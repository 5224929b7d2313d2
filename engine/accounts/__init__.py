"""Accounts as the admin reads them: search with filters, and one account's whole picture."""

from engine.accounts.detail import AccountDetail, UnknownAccount, account_detail
from engine.accounts.search import AccountFilter, AccountPage, AccountRow, SearchError, search_accounts

__all__ = [
    "AccountDetail",
    "AccountFilter",
    "AccountPage",
    "AccountRow",
    "SearchError",
    "UnknownAccount",
    "account_detail",
    "search_accounts",
]
