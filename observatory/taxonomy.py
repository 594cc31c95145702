"""Canonical crime categories aligned with UNODC's ICCS, and their built-in aliases.

Each category keeps its ICCS section and code, Spanish and English names and a
``sensitive`` flag (sexual and domestic violence: never shown as points to the public).
Source labels map onto categories through aliases: the global ones below plus the
``aliases`` table of each import profile; an unknown label goes to ``unclassified``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from observatory.text import label_key

UNCLASSIFIED = "unclassified"
# Every error message that names a category code ends with this pointer to the list of codes.
CATEGORIES_HINT = "list the category codes with `python -m observatory categories`"


@dataclass(frozen=True)
class Category:
    code: str
    iccs_code: str | None
    name_es: str
    name_en: str
    sensitive: bool = False

    @property
    def iccs_section(self) -> str | None:
        return self.iccs_code[:2] if self.iccs_code else None


CATEGORIES: tuple[Category, ...] = (
    Category("homicide", "0101", "Homicidio doloso", "Intentional homicide"),
    Category("attempted_homicide", "0102", "Tentativa de homicidio", "Attempted intentional homicide"),
    Category("non_intentional_homicide", "0103", "Homicidio culposo", "Non-intentional homicide"),
    Category("firearm_assault", "020111", "Lesiones por arma de fuego", "Assault with a firearm"),
    Category("assault", "02011", "Lesiones", "Assault"),
    Category("threat", "02012", "Amenazas", "Threat"),
    Category("kidnapping", "020221", "Secuestro", "Kidnapping"),
    Category("extortion", "02041", "Extorsión", "Extortion"),
    Category("harassment", "0207", "Acoso", "Harassment"),
    Category("domestic_violence", "02011", "Violencia intrafamiliar", "Domestic violence", True),
    Category("rape", "03011", "Violación", "Rape", True),
    Category("sexual_assault", "03012", "Abuso sexual", "Sexual assault", True),
    Category("other_sexual", "0309", "Otros delitos sexuales", "Other sexual offences", True),
    Category("robbery_person", "04011", "Robo a transeúnte", "Robbery from the person"),
    Category("robbery_transport", "04012", "Robo en transporte público", "Robbery on public transport"),
    Category("robbery_business", "04013", "Robo a negocio con violencia", "Robbery of a business"),
    Category("robbery_vehicle", "04019", "Robo de vehículo con violencia", "Vehicle robbery (carjacking)"),
    Category("robbery_residence", "04019", "Robo a casa habitación con violencia", "Robbery in a dwelling"),
    Category("robbery_other", "0401", "Otros robos con violencia", "Other robbery"),
    Category("burglary_residential", "05012", "Robo a casa habitación", "Residential burglary"),
    Category("burglary_business", "05011", "Robo a negocio", "Burglary of a business"),
    Category("vehicle_theft", "05021", "Robo de vehículo", "Motor vehicle theft"),
    Category("theft_from_vehicle", "05022", "Robo de autopartes", "Theft from a vehicle"),
    Category("theft_person", "0502", "Hurto a personas", "Theft from the person"),
    Category("livestock_theft", "0502", "Abigeato", "Livestock theft"),
    Category("theft", "0502", "Otros hurtos", "Other theft"),
    Category("fraud", "0701", "Fraude", "Fraud"),
    Category("property_damage", "0504", "Daño a la propiedad", "Property damage"),
    Category("drugs", "0601", "Delitos de drogas", "Drug offences"),
    Category("weapons", "0901", "Portación ilegal de armas", "Weapons offences"),
    Category("public_order", "0801", "Riñas y alteración del orden", "Fights and public disorder"),
    Category("antisocial_behaviour", "0801", "Conducta antisocial", "Anti-social behaviour"),
    Category("other", "11", "Otros delitos", "Other offences"),
    Category(UNCLASSIFIED, None, "Sin clasificar", "Unclassified"),
)

ICCS_SECTIONS: dict[str, tuple[str, str]] = {
    "01": ("Actos que causan la muerte", "Acts leading to death"),
    "02": ("Actos que causan daño a la persona", "Acts causing harm to the person"),
    "03": ("Actos de naturaleza sexual", "Injurious acts of a sexual nature"),
    "04": ("Actos violentos contra la propiedad", "Acts of violence against property"),
    "05": ("Actos contra la propiedad", "Acts against property only"),
    "06": ("Drogas", "Acts involving controlled drugs"),
    "07": ("Fraude y corrupción", "Fraud, deception or corruption"),
    "08": ("Orden público", "Acts against public order"),
    "09": ("Seguridad pública", "Acts against public safety"),
    "11": ("Otros", "Other criminal acts"),
}

# Labels common to many sources, in Spanish and English; profiles add their own.
GLOBAL_ALIASES: dict[str, str] = {
    "homicidio": "homicide",
    "homicidio doloso": "homicide",
    "homicidios": "homicide",
    "homicide": "homicide",
    "murder": "homicide",
    "homicidio culposo": "non_intentional_homicide",
    "lesiones": "assault",
    "lesiones personales": "assault",
    "lesiones dolosas": "assault",
    "assault": "assault",
    "violence and sexual offences": "assault",
    "lesiones por arma de fuego": "firearm_assault",
    "amenazas": "threat",
    "secuestro": "kidnapping",
    "extorsion": "extortion",
    "violencia familiar": "domestic_violence",
    "violencia intrafamiliar": "domestic_violence",
    "domestic violence": "domestic_violence",
    "violacion": "rape",
    "rape": "rape",
    "abuso sexual": "sexual_assault",
    "delitos sexuales": "other_sexual",
    "robo a transeunte": "robbery_person",
    "robbery": "robbery_person",
    "robo a negocio con violencia": "robbery_business",
    "burglary": "burglary_residential",
    "hurto a residencias": "burglary_residential",
    "robo a casa habitacion": "burglary_residential",
    "hurto a comercio": "burglary_business",
    "hurto automotores": "vehicle_theft",
    "hurto a automotores": "vehicle_theft",
    "hurto motocicletas": "vehicle_theft",
    "hurto a motocicletas": "vehicle_theft",
    "robo de vehiculo": "vehicle_theft",
    "vehicle crime": "vehicle_theft",
    "motor vehicle theft": "vehicle_theft",
    "theft of motor vehicle": "vehicle_theft",
    "robo de autopartes": "theft_from_vehicle",
    "hurto personas": "theft_person",
    "hurto a personas": "theft_person",
    "theft from the person": "theft_person",
    "abigeato": "livestock_theft",
    "hurto": "theft",
    "other theft": "theft",
    "shoplifting": "theft",
    "bicycle theft": "theft",
    "fraude": "fraud",
    "estafa": "fraud",
    "dano a la propiedad": "property_damage",
    "criminal damage and arson": "property_damage",
    "narcomenudeo": "drugs",
    "drugs": "drugs",
    "possession of weapons": "weapons",
    "rinas": "public_order",
    "public order": "public_order",
    "anti-social behaviour": "antisocial_behaviour",
    "other crime": "other",
}


def categories_by_code() -> dict[str, Category]:
    """The canonical categories keyed by their code."""
    return {c.code: c for c in CATEGORIES}


def seed_taxonomy(engine: Engine) -> None:
    """Insert any missing canonical category and global alias (idempotent)."""
    from observatory.db.models import CategoryAlias, CrimeCategory

    with Session(engine) as session, session.begin():
        existing = {row.code: row for row in session.scalars(select(CrimeCategory))}
        for cat in CATEGORIES:
            if cat.code not in existing:
                row = CrimeCategory(code=cat.code, iccs_code=cat.iccs_code, iccs_section=cat.iccs_section,
                                    name_es=cat.name_es, name_en=cat.name_en, sensitive=cat.sensitive)
                session.add(row)
                existing[cat.code] = row
        session.flush()
        known = set(session.scalars(select(CategoryAlias.label_key).where(CategoryAlias.profile == "*")))
        for label, code in GLOBAL_ALIASES.items():
            key = label_key(label)
            if key not in known:
                session.add(CategoryAlias(profile="*", label_key=key, category_id=existing[code].id))
                known.add(key)
