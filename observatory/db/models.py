"""SQLAlchemy models of the observatory database.

The schema is created and upgraded only by the Alembic migrations in ``migrations/``;
``tests/test_migrations.py`` checks that these models and the migrations agree.

Conventions: dates are calendar dates in the city's local time; coordinates are WGS84
longitude/latitude in degrees; geometries are stored as WKB in WGS84 (EPSG:4326); every
count column is a number of incidents (aggregated sources carry counts above 1).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from observatory.vocabulary import SOURCE_KINDS

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# "reclassification": an `alias add` that changed stored incidents (recorded so caches see the change).
BATCH_KINDS = (*SOURCE_KINDS, "survey", "boundaries", "reclassification")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class ImportBatch(Base):
    """One import of one file: what was read, what was loaded, what was rejected."""

    __tablename__ = "import_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    file_name: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    source_kind: Mapped[str] = mapped_column(String(20))  # one of BATCH_KINDS
    profile: Mapped[str] = mapped_column(String(200))
    layer: Mapped[str | None] = mapped_column(String(100))  # boundaries: the layer name
    started_at: Mapped[dt.datetime] = mapped_column(DateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(20), default="running")  # running|done|failed
    total: Mapped[int] = mapped_column(Integer, default=0)
    loaded: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    revised: Mapped[int] = mapped_column(Integer, default=0)
    unassigned: Mapped[int] = mapped_column(Integer, default=0)
    user_name: Mapped[str | None] = mapped_column(String(100))
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # full import report

    rejected_rows: Mapped[list[RejectedRow]] = relationship(back_populates="batch")


class RejectedRow(Base):
    """An input row that was not loaded, with a reason a person can read and fix."""

    __tablename__ = "rejected_rows"

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("import_batches.id", ondelete="CASCADE"), index=True)
    row_number: Mapped[int] = mapped_column(Integer)  # 1-based line in the file, header = 1
    field: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    batch: Mapped[ImportBatch] = relationship(back_populates="rejected_rows")


class BoundaryLayer(Base):
    """A set of areas: the city's neighbourhoods, its districts, police quadrants..."""

    __tablename__ = "boundary_layers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    level: Mapped[str] = mapped_column(String(20), default="neighbourhood")  # neighbourhood|district|other
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)  # the layer incidents.neighbourhood_id uses
    source_crs: Mapped[str | None] = mapped_column(String(200))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batches.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)


class Neighbourhood(Base):
    """One area of a boundary layer (neighbourhood, colonia, quadrant, ward...)."""

    __tablename__ = "neighbourhoods"
    __table_args__ = (UniqueConstraint("layer_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    layer_id: Mapped[int] = mapped_column(ForeignKey("boundary_layers.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(300))
    name_key: Mapped[str] = mapped_column(String(300), index=True)  # accent/case-folded name for matching
    district: Mapped[str | None] = mapped_column(String(300), index=True)
    population: Mapped[float | None] = mapped_column(Float)
    area_km2: Mapped[float | None] = mapped_column(Float)
    centroid_lon: Mapped[float | None] = mapped_column(Float)
    centroid_lat: Mapped[float | None] = mapped_column(Float)
    geometry_wkb: Mapped[bytes] = mapped_column(LargeBinary)  # WGS84
    active: Mapped[bool] = mapped_column(Boolean, default=True)  # False once a new version replaces it


class CrimeCategory(Base):
    """Canonical crime category aligned with UNODC ICCS."""

    __tablename__ = "crime_categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(60), unique=True)  # stable slug, e.g. "robbery"
    iccs_code: Mapped[str | None] = mapped_column(String(20))
    iccs_section: Mapped[str | None] = mapped_column(String(10))  # "01".."11"
    name_es: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    sensitive: Mapped[bool] = mapped_column(Boolean, default=False)


class CategoryAlias(Base):
    """A source label (normalised) mapped onto a canonical category, per profile or global."""

    __tablename__ = "category_aliases"
    __table_args__ = (UniqueConstraint("profile", "label_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    profile: Mapped[str] = mapped_column(String(200), default="*")  # "*" = every profile
    label_key: Mapped[str] = mapped_column(String(300))
    category_id: Mapped[int] = mapped_column(ForeignKey("crime_categories.id"))


class Incident(Base):
    """A complaint or police report (or an aggregated count of them)."""

    __tablename__ = "incidents"
    __table_args__ = (
        UniqueConstraint("source_kind", "record_key"),
        # Covering indexes of the dashboard aggregates (migration 0003): every filter column is in
        # each, and the area / month ones are led by the GROUP BY key so groups come out in order.
        Index("ix_incidents_dashboard", "occurred_on", "weekday", "hour", "category_id", "neighbourhood_id",
              "source_kind", "victim_sex", "victim_age_group", "count"),
        Index("ix_incidents_area_month", "neighbourhood_id", "occurred_month", "occurred_on", "category_id",
              "source_kind", "victim_sex", "victim_age_group", "count"),
        Index("ix_incidents_category_month", "category_id", "occurred_month", "occurred_on", "source_kind",
              "victim_sex", "victim_age_group", "count"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source_kind: Mapped[str] = mapped_column(String(20))  # complaint | police
    record_key: Mapped[str] = mapped_column(String(200))  # source id, or content hash + occurrence no.
    source_id: Mapped[str | None] = mapped_column(String(200))
    content_hash: Mapped[str] = mapped_column(String(40))
    revision: Mapped[int] = mapped_column(Integer, default=1)
    batch_id: Mapped[int] = mapped_column(ForeignKey("import_batches.id"), index=True)
    profile: Mapped[str] = mapped_column(String(200))

    occurred_on: Mapped[dt.date] = mapped_column(Date)  # the single date used by indicators
    occurred_month: Mapped[dt.date] = mapped_column(Date)  # first day of occurred_on's month
    occurred_time: Mapped[dt.time | None] = mapped_column(Time)
    hour: Mapped[int | None] = mapped_column(Integer)  # 0-23, None when the time is unknown
    weekday: Mapped[int] = mapped_column(Integer)  # 0 = Monday
    occurred_start: Mapped[dt.datetime | None] = mapped_column(DateTime)
    occurred_end: Mapped[dt.datetime | None] = mapped_column(DateTime)
    reported_on: Mapped[dt.date | None] = mapped_column(Date)

    category_id: Mapped[int] = mapped_column(ForeignKey("crime_categories.id"))
    original_label: Mapped[str] = mapped_column(String(300))
    count: Mapped[int] = mapped_column(Integer, default=1)
    sensitive: Mapped[bool] = mapped_column(Boolean, default=False)

    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    declared_area_code: Mapped[str | None] = mapped_column(String(100))
    declared_area_name: Mapped[str | None] = mapped_column(String(300))
    neighbourhood_id: Mapped[int | None] = mapped_column(ForeignKey("neighbourhoods.id"))
    assignment: Mapped[str | None] = mapped_column(String(20))  # point|code|name|fuzzy_name|None
    declared_area_agrees: Mapped[bool | None] = mapped_column(Boolean)

    victim_sex: Mapped[str | None] = mapped_column(String(1))  # F | M | X
    victim_age_group: Mapped[str | None] = mapped_column(String(10))  # "0-17", "18-29", ...
    location_type: Mapped[str | None] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(500))  # restricted
    description: Mapped[str | None] = mapped_column(Text)  # restricted free text


class IncidentArea(Base):
    """Assignment of an incident to an area of a secondary boundary layer (quadrant, colonia...)."""

    __tablename__ = "incident_areas"

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True)
    layer_id: Mapped[int] = mapped_column(ForeignKey("boundary_layers.id", ondelete="CASCADE"), primary_key=True)
    neighbourhood_id: Mapped[int] = mapped_column(ForeignKey("neighbourhoods.id"), index=True)


class IncidentRevision(Base):
    """Previous values of an incident that a later release changed."""

    __tablename__ = "incident_revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("import_batches.id"))  # the batch that revised it
    revision: Mapped[int] = mapped_column(Integer)  # the revision number these values had
    previous: Mapped[dict[str, Any]] = mapped_column(JSON)


class SurveyWave(Base):
    """One survey round (e.g. ENSU 2015 Q1) whose responses share a questionnaire."""

    __tablename__ = "survey_waves"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    profile: Mapped[str] = mapped_column(String(200))
    period_start: Mapped[dt.date | None] = mapped_column(Date)
    period_end: Mapped[dt.date | None] = mapped_column(Date)
    reference_months: Mapped[int | None] = mapped_column(Integer)  # victimisation reference period


class SurveyResponse(Base):
    """One unit of survey microdata with its expansion weight.

    ``unit`` says what a row is: a person, a household or a crime event (ENVIPE's TMod_Vic
    has one row per event, weighted by FAC_DEL). ``items`` holds the canonical items of
    ``observatory.ingest.survey_items`` (victimisation, reporting, fear, perception, trust).
    """

    __tablename__ = "survey_responses"
    __table_args__ = (UniqueConstraint("wave_id", "unit", "respondent_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    wave_id: Mapped[int] = mapped_column(ForeignKey("survey_waves.id", ondelete="CASCADE"), index=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("import_batches.id"), index=True)
    unit: Mapped[str] = mapped_column(String(20), default="person")  # person | household | event
    respondent_key: Mapped[str] = mapped_column(String(200))
    household_key: Mapped[str | None] = mapped_column(String(200))
    weight: Mapped[float] = mapped_column(Float)
    area_code: Mapped[str | None] = mapped_column(String(100))  # city / municipality / colonia code
    neighbourhood_id: Mapped[int | None] = mapped_column(ForeignKey("neighbourhoods.id"))
    district: Mapped[str | None] = mapped_column(String(300))
    stratum: Mapped[str | None] = mapped_column(String(100))  # design stratum, when published
    psu: Mapped[str | None] = mapped_column(String(100))  # primary sampling unit, when published
    sex: Mapped[str | None] = mapped_column(String(1))
    age_group: Mapped[str | None] = mapped_column(String(10))
    items: Mapped[dict[str, Any]] = mapped_column(JSON)


class Intervention(Base):
    """A programme applied to some areas from a date, to be evaluated before and after."""

    __tablename__ = "interventions"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    started_on: Mapped[dt.date] = mapped_column(Date)
    ended_on: Mapped[dt.date | None] = mapped_column(Date)
    area_codes: Mapped[list[Any]] = mapped_column(JSON)  # neighbourhood codes of the primary layer
    description: Mapped[str | None] = mapped_column(Text)


class IndicatorTarget(Base):
    """A target from the city's security plan: reach ``target_value`` by ``target_on``."""

    __tablename__ = "indicator_targets"

    id: Mapped[int] = mapped_column(primary_key=True)
    indicator: Mapped[str] = mapped_column(String(100))  # e.g. "rate_per_100k:homicide"
    scope: Mapped[str] = mapped_column(String(200), default="city")
    baseline_value: Mapped[float] = mapped_column(Float)
    baseline_on: Mapped[dt.date] = mapped_column(Date)
    target_value: Mapped[float] = mapped_column(Float)
    target_on: Mapped[dt.date] = mapped_column(Date)


class User(Base):
    """A person who logs in: analyst or admin. The public needs no account."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(500))
    role: Mapped[str] = mapped_column(String(20), default="analyst")  # analyst | admin
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)


class UserSession(Base):
    """A login: the SHA-256 of the random token in the browser's cookie; logout deletes the row."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)


class LoginAttempt(Base):
    """Consecutive failed logins of one user name from one address (scope ``user``), or from one
    address whatever the name (scope ``address``, ``username`` empty)."""

    __tablename__ = "login_attempts"
    __table_args__ = (UniqueConstraint("scope", "username", "ip"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(10))  # user | address
    username: Mapped[str] = mapped_column(String(100))
    ip: Mapped[str] = mapped_column(String(100))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    blocked_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)


class AuditEvent(Base):
    """Who imported, exported or changed what, and when."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    user_name: Mapped[str | None] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(100))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
