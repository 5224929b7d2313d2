"""A token's times are finite numbers: NaN (which JSON parsers accept) must not slip past the checks."""

from __future__ import annotations

import math
from datetime import timedelta

import jwt
import pytest

from engine.inapp.tokens import InvalidToken
from tests.engine.inapp.test_inapp_tokens import NOW, app_key, claims, verify  # noqa: F401 (app_key: a fixture)


@pytest.mark.parametrize(
    "times",
    [
        {"iat": math.nan, "exp": int((NOW + timedelta(days=3650)).timestamp())},  # ten years, past the 24 h limit
        {"iat": math.nan, "exp": math.nan},
        {"iat": int(NOW.timestamp()), "exp": math.nan},
        {"iat": -math.inf, "exp": int((NOW + timedelta(hours=1)).timestamp())},
    ],
)
def test_times_that_are_not_finite_numbers_are_refused(db, app_key, times):  # noqa: F811
    token = jwt.encode(claims(**times), app_key.secret, "HS256", headers={"kid": app_key.kid})
    with pytest.raises(InvalidToken, match="Unix times"):
        verify(db, app_key.app_id, token)
