"""What every REST body is: requests refuse unknown fields (a client's mistake, 400);
answers drop fields the core added that openapi.yaml does not document yet."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Answer(BaseModel):
    # Fields the core adds later stay inside the server until they are documented here.
    model_config = ConfigDict(extra="ignore")
