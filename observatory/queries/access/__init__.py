"""Who may see what: every access rule of the observatory, in one place (docs/disclosure.md).

Roles:

- ``analyst`` and ``admin`` (login): true counts, any window, points (with the geomask).
- ``public`` (default, no login): what a query returns is already the published figure.
  Every public count table goes through :func:`release` (which rewrites the filters) and
  :func:`publish` (which perturbs and suppresses the cells):

  1. **Public grid.** The window snaps OUTWARD to whole calendar periods
     (``DisclosurePolicy.public_unit``, month by default); day-level tables answer per period.
  2. **Sensitive categories** (sexual and domestic violence: the taxonomy's ``sensitive``
     flag) are published only at the coarse grid: district or city tables over whole
     quarters (``sensitive_levels``, ``sensitive_unit``). A selection of sensitive categories
     only gets its window widened to whole quarters there; in every finer table
     (neighbourhoods, month cells, hour x weekday, days) they are LEFT OUT ENTIRELY and the
     table says so (``sensitive_withheld``), so no difference of tables isolates them.
  3. **Victim filters** (sex, age band) are not applied for the public.
  4. **Cell-key perturbation** (:mod:`observatory.queries.cellkey`) of every published count.
  5. **Suppression**: in small-area tables (neighbourhoods, districts, or a selection of
     some) and in every cell of sensitive categories, a published value below ``k`` -- zero
     included -- is NA with ``suppressed = True``.

  No incident points, addresses, free text, victim attributes, raw rejected rows or user names.

True counts (for the analysts' statistics) come only from the ``true_counts_*`` functions,
which raise ``PermissionError`` for the public.

One module per concept, every name importable from here (``from observatory.queries.access import ...``):

| module | what it decides |
|---|---|
| ``roles`` | who sees microdata, the suppression threshold of a role |
| ``grid`` | the public grid: calendar periods, snapping a window to them |
| ``release`` | what a public table may hold (:func:`release`), its notices |
| ``publish`` | the one publishing step: cell-key noise and suppression (:func:`publish`) |
| ``views`` | row-level tables for the public: columns, labels, file names, rejected rows |
| ``statistics`` | statistics of published counts: imputed suppressed cells, withheld hot spots |
"""

from __future__ import annotations

from observatory.queries.access.grid import _UNIT_MONTHS as _UNIT_MONTHS
from observatory.queries.access.grid import GRAINS as GRAINS
from observatory.queries.access.grid import LEVELS as LEVELS
from observatory.queries.access.grid import _coarser as _coarser
from observatory.queries.access.grid import _fill_open_ends as _fill_open_ends
from observatory.queries.access.grid import calendar_window as calendar_window
from observatory.queries.access.grid import period_end as period_end
from observatory.queries.access.grid import period_start as period_start
from observatory.queries.access.grid import period_starts as period_starts
from observatory.queries.access.grid import snap as snap
from observatory.queries.access.publish import publish as publish
from observatory.queries.access.release import NO_CATEGORY as NO_CATEGORY
from observatory.queries.access.release import NOTICES as NOTICES
from observatory.queries.access.release import Release as Release
from observatory.queries.access.release import _sensitive_allowed as _sensitive_allowed
from observatory.queries.access.release import category_grid as category_grid
from observatory.queries.access.release import notice_values as notice_values
from observatory.queries.access.release import public_notices as public_notices
from observatory.queries.access.release import release as release
from observatory.queries.access.release import selected_codes as selected_codes
from observatory.queries.access.release import selection_level as selection_level
from observatory.queries.access.release import sensitive_codes as sensitive_codes
from observatory.queries.access.roles import RESTRICTED_ROLES as RESTRICTED_ROLES
from observatory.queries.access.roles import ROLES as ROLES
from observatory.queries.access.roles import can_see_points as can_see_points
from observatory.queries.access.roles import can_see_sensitive_points as can_see_sensitive_points
from observatory.queries.access.roles import check_role as check_role
from observatory.queries.access.roles import is_restricted as is_restricted
from observatory.queries.access.roles import require_restricted as require_restricted
from observatory.queries.access.roles import threshold as threshold
from observatory.queries.access.statistics import HOTSPOT_LAYERS as HOTSPOT_LAYERS
from observatory.queries.access.statistics import WITHHOLD_SHARE as WITHHOLD_SHARE
from observatory.queries.access.statistics import hotspots_withheld as hotspots_withheld
from observatory.queries.access.statistics import published_values as published_values
from observatory.queries.access.statistics import selects_sensitive as selects_sensitive
from observatory.queries.access.statistics import suppressed_value as suppressed_value
from observatory.queries.access.statistics import too_suppressed as too_suppressed
from observatory.queries.access.views import PUBLIC_HISTORY_COLUMNS as PUBLIC_HISTORY_COLUMNS
from observatory.queries.access.views import PUBLIC_REJECTED_COLUMNS as PUBLIC_REJECTED_COLUMNS
from observatory.queries.access.views import REASON_KINDS as REASON_KINDS
from observatory.queries.access.views import RESTRICTED_COLUMNS as RESTRICTED_COLUMNS
from observatory.queries.access.views import drop_restricted_columns as drop_restricted_columns
from observatory.queries.access.views import file_name_only as file_name_only
from observatory.queries.access.views import public_file_names as public_file_names
from observatory.queries.access.views import public_import_view as public_import_view
from observatory.queries.access.views import public_labels as public_labels
from observatory.queries.access.views import reason_kind as reason_kind
