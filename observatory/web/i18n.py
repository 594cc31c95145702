"""Message catalogue of the dashboard (Spanish default, English) and locale formats.

Every visible string of the dashboard goes through :func:`t`; ``tests/test_web_i18n.py``
checks that both languages hold the same keys and that no key leaks into a rendered page.
Numbers and dates are formatted with Babel (``1.234,5`` in Spanish, ``1,234.5`` in English).
"""

from __future__ import annotations

import datetime as dt
import math

from babel.dates import format_date as _babel_date
from babel.numbers import get_decimal_symbol, get_group_symbol
from pandas import NA as PD_NA

LANGUAGES: tuple[str, ...] = ("es", "en")
DEFAULT_LANGUAGE = "es"
_LOCALES = {"es": "es_ES", "en": "en_GB"}

CATALOGUE: dict[str, dict[str, str]] = {
    "es": {
        "app.title": "Observatorio municipal del delito",
        "app.short": "Observatorio",
        "synthetic": "Datos sintéticos: ciudad de demostración, no son datos reales",
        "nav.overview": "Resumen",
        "nav.map": "Mapa",
        "nav.trends": "Tendencias",
        "nav.perception": "Percepción",
        "nav.neighbourhood": "Barrio",
        "nav.data": "Datos",
        "nav.login": "Ingresar",
        "nav.present": "Modo presentación",
        "nav.present_exit": "Salir de presentación",
        "nav.language": "English",
        "role.public": "Vista pública",
        "role.analyst": "Analista",
        "role.admin": "Administración",
        "nav.logout": "Salir",
        "filter.dates": "Período",
        "filter.date_start": "Desde",
        "filter.date_end": "Hasta",
        "filter.categories": "Delitos",
        "filter.categories_all": "Todos los delitos",
        "filter.source": "Fuente",
        "filter.source.both": "Denuncias y policía",
        "filter.source.complaint": "Denuncias",
        "filter.source.police": "Reportes policiales",
        "filter.district": "Distrito",
        "filter.district_all": "Todos los distritos",
        "filter.sex": "Sexo de la víctima",
        "filter.sex_all": "Todos",
        "filter.age": "Edad de la víctima",
        "filter.age_all": "Todas las edades",
        "filter.title": "Filtros",
        "sex.F": "Mujer",
        "sex.M": "Hombre",
        "sex.X": "Otro / no informado",
        "download.csv": "Descargar CSV",
        "nodata": "Sin datos para estos filtros",
        "loading": "Cargando…",
        "kpi.total": "Delitos registrados",
        "kpi.rate": "Tasa por 100.000 hab.",
        "kpi.change": "Cambio vs. año anterior",
        "kpi.change_sig": "significativo (p < 0,05)",
        "kpi.change_nosig": "no significativo",
        "kpi.fear": "Temor alto",
        "kpi.victimisation": "Victimización",
        "kpi.na": "s/d",
        "overview.title": "Resumen",
        "overview.compstat": "CompStat: períodos comparados con el año anterior",
        "overview.hotspots": "Puntos calientes (Gi*)",
        "overview.risers": "Barrios con mayor aumento",
        "overview.targets": "Metas del plan",
        "overview.targets_note": "Valor actual: últimos 12 meses con datos (denuncias y policía). "
                                 "Avance: 0 % en la línea de base, 100 % en la meta.",
        "overview.interventions": "Evaluación de intervenciones",
        "overview.interventions_note": "Razón de razones: cambio en los barrios intervenidos dividido por el "
                                       "cambio en los barrios de comparación (todos los demás salvo los vecinos "
                                       "de los intervenidos, donde se vería el desplazamiento), 12 meses antes y "
                                       "después del inicio, con los delitos, la fuente y las víctimas de los "
                                       "filtros; IC 95 % cuasi-Poisson (la varianza crece con la dispersión que "
                                       "muestran los barrios). Supone tendencias paralelas.",
        "overview.interventions_unapplied": "Este panel no aplica: {filters}. El inicio y los barrios de cada "
                                            "intervención los definen.",
        "target.rate_per_100k": "Tasa por 100.000 hab.: {category}",
        "target.count": "Delitos registrados: {category}",
        "target.scope_city": "Ciudad",
        "target.status.achieved": "Meta alcanzada",
        "target.status.on track": "En camino",
        "target.status.off track": "Fuera de camino",
        "target.status.no data": "Sin datos",
        "intervention.verdict.drop": "Baja significativa",
        "intervention.verdict.no_change": "Sin cambio significativo",
        "intervention.verdict.rise": "Aumento significativo",
        "intervention.verdict.insufficient": "Datos insuficientes",
        "intervention.verdict.withheld": "Muy pocos casos para publicar",
        "intervention.effect": "{pct} frente a lo esperado",
        "intervention.comparison": "{n} barrios; sin los {m} vecinos de los intervenidos: {codes}",
        "intervention.comparison_all": "{n} barrios (todos los demás)",
        "col.comparison": "Comparación",
        "overview.risers_period": "{start} – {end} frente a {prev_start} – {prev_end}, por día. Primero los "
                                  "cambios significativos (p < 0,05), luego el resto, por cambio de la tasa "
                                  "por 100.000 hab.",
        "overview.risers_up": "Aumentos",
        "overview.risers_down": "Disminuciones",
        "map.no_population": "La capa de barrios no tiene población para todos los barrios: sin ella no hay "
                             "tasas. Un analista puede añadirla desde un CSV con "
                             "«observatory boundaries population ARCHIVO --id-field … "
                             "--population-field …» o en la página de carga.",
        "map.density_unit": "incidentes por km²",
        "kpi.no_population": "Sin población en la capa de barrios: ver página Datos",
        "map.density_note": "Densidad kernel gaussiana: ancho de banda {bandwidth} m, celdas de {cell} m, "
                            "{n} incidentes",
        "map.smoothed_interval": "Intervalo 95 %",
        "map.significance": "Significativo al 5 % (bilateral)",
        "map.significance_fdr": "Significativo al 5 % (bilateral, FDR de Benjamini-Hochberg)",
        "map.fdr": "Corregir por comparaciones múltiples (FDR) en Gi* y Moran",
        "trends.partial": "Mes incompleto",
        "col.scope": "Ámbito",
        "col.baseline": "Línea de base",
        "col.target": "Meta",
        "col.target_on": "Fecha meta",
        "col.progress": "Avance",
        "col.status": "Estado",
        "col.intervention": "Intervención",
        "col.areas": "Barrios",
        "col.ratio": "Razón de razones",
        "col.ci95": "IC 95 %",
        "col.effect": "Efecto",
        "col.verdict": "Resultado",
        "map.title": "Mapa",
        "map.layer": "Capa",
        "map.layer.counts": "Delitos (número)",
        "map.layer.rates": "Tasa por 100.000 hab.",
        "map.layer.smoothed": "Tasa suavizada (bayes empírico)",
        "map.layer.gi": "Puntos calientes Gi*",
        "map.layer.moran": "Clusters de Moran local",
        "map.layer.emerging": "Puntos calientes emergentes",
        "map.layer.density": "Densidad (mapa de calor)",
        "map.layer.points": "Incidentes (puntos)",
        "map.classes": "Clases",
        "map.hint": "Haga clic en un barrio para ver su perfil.",
        "map.points_restricted": "Los puntos sólo se muestran a analistas; la vista pública ve agregados.",
        "trends.title": "Tendencias",
        "trends.monthly": "Serie mensual",
        "trends.hourweek": "Hora del día × día de la semana",
        "trends.breakdown": "Delitos por categoría en el tiempo",
        "trends.expected": "Banda esperada (tendencia y estación)",
        "trends.flagged": "Meses atípicos",
        "trends.ma3": "Media móvil 3 meses",
        "trends.ma12": "Media móvil 12 meses",
        "trends.lastyear": "Año anterior",
        "trends.count": "Delitos",
        "perception.title": "Percepción",
        "perception.fear": "Índice de temor (bajo / medio / alto)",
        "perception.fear_map": "Temor alto por barrio",
        "perception.fear_map_by_district": "Temor alto por distrito",
        "perception.by_sex": "Temor alto por sexo",
        "perception.by_age": "Temor alto por edad",
        "perception.indicators": "Indicadores de la encuesta",
        "perception.waves": "Olas de la encuesta",
        "perception.recorded_vs_survey": "Delitos registrados vs. victimización declarada",
        "perception.unreliable": "Estimación poco confiable (muestra efectiva pequeña)",
        "perception.nosurvey": "No hay encuestas cargadas.",
        "perception.fear_map_district": "La mayoría de las estimaciones por barrio son poco confiables (pocos "
                                        "encuestados), por eso el mapa muestra distritos.",
        "nav.analysis": "Análisis",
        "neighbourhood.title": "Perfil del barrio",
        "neighbourhood.pick": "Barrio",
        "neighbourhood.city": "Ciudad",
        "neighbourhood.none": "Elija un barrio.",
        "data.title": "Datos",
        "data.imports": "Historial de importaciones",
        "data.rejected": "Filas rechazadas",
        "data.unknown": "Etiquetas desconocidas",
        "data.unassigned": "Incidentes sin barrio",
        "data.definitions": "Definiciones de los indicadores",
        "data.sources": "Fuentes",
        "level.low": "Bajo",
        "level.medium": "Medio",
        "level.high": "Alto",
        "gi.hot99": "Punto caliente 99%",
        "gi.hot95": "Punto caliente 95%",
        "gi.hot90": "Punto caliente 90%",
        "gi.ns": "No significativo",
        "gi.cold90": "Punto frío 90%",
        "gi.cold95": "Punto frío 95%",
        "gi.cold99": "Punto frío 99%",
        "moran.HH": "Alto-alto",
        "moran.LL": "Bajo-bajo",
        "moran.HL": "Alto-bajo (atípico)",
        "moran.LH": "Bajo-alto (atípico)",
        "moran.ns": "No significativo",
        "col.area": "Barrio",
        "col.code": "Código",
        "col.district": "Distrito",
        "col.count": "Delitos",
        "col.rate": "Tasa",
        "col.class": "Clase",
        "col.month": "Mes",
        "col.category": "Categoría",
        "col.period": "Período",
        "col.current": "Actual",
        "col.previous": "Año anterior",
        "col.change": "Cambio",
        "col.change_pct": "Cambio %",
        "col.pvalue": "Valor p",
        "col.value": "Valor",
        "col.low": "IC 95% inf.",
        "col.high": "IC 95% sup.",
        "col.wave": "Ola",
        "col.indicator": "Indicador",
        "col.file": "Archivo",
        "col.kind": "Tipo",
        "col.started": "Inicio",
        "col.total": "Leídas",
        "col.loaded": "Cargadas",
        "col.rejected": "Rechazadas",
        "col.duplicates": "Duplicadas",
        "col.unassigned": "Sin barrio",
        "col.row": "Fila",
        "col.field": "Campo",
        "col.reason": "Motivo",
        "col.label": "Etiqueta",
        "col.hour": "Hora",
        "col.weekday": "Día",
        "col.definition": "Definición",
        "col.source": "Fuente",
        "col.formula": "Fórmula",
        "col.n": "n",
        "period.week": "Semana a la fecha",
        "period.12m": "Últimos 12 meses",
        "period.28d": "Últimos 28 días",
        "period.ytd": "Año a la fecha",
        "weekday.0": "lun",
        "weekday.1": "mar",
        "weekday.2": "mié",
        "weekday.3": "jue",
        "weekday.4": "vie",
        "weekday.5": "sáb",
        "weekday.6": "dom",
        "def.count": "Delitos registrados",
        "def.count.what": "Número de denuncias y/o reportes policiales en el período y filtros elegidos.",
        "def.count.source": "Denuncias y reportes policiales importados",
        "def.count.formula": "Σ incidentes (los registros agregados suman su conteo)",
        "def.rate": "Tasa por 100.000 habitantes",
        "def.rate.what": "Delitos por cada 100.000 habitantes del área, sin anualizar.",
        "def.rate.source": "Incidentes y población de la capa de barrios",
        "def.rate.formula": "conteo / población × 100.000",
        "def.change": "Cambio vs. año anterior",
        "def.change.what": "Diferencia con el mismo período un año antes; prueba binomial condicional de Poisson.",
        "def.change.source": "Incidentes (convención CompStat, semanas de lunes a domingo)",
        "def.change.formula": "(actual − anterior) / anterior × 100; p de binom(actual | actual + anterior, 0,5)",
        "def.gi": "Puntos calientes Gi*",
        "def.gi.what": "Barrios cuyo entorno suma más (o menos) delitos de lo esperable al azar.",
        "def.gi.source": "Conteos por barrio y contigüidad",
        "def.gi.formula": "z de Getis-Ord Gi* con pesos binarios; clases 90/95/99%",
        "def.fear": "Índice de temor",
        "def.fear.what": "Suma de tres ítems de percepción y cuatro de temor (Paz Ciudadana), en bajo/medio/alto.",
        "def.fear.source": "Encuesta de victimización y percepción",
        "def.fear.formula": "puntaje ponderado por el factor de expansión; umbrales configurables",
        "def.victimisation": "Victimización",
        "def.victimisation.what": "Proporción de encuestados víctimas de al menos un delito en el período de "
        "referencia.",
        "def.victimisation.source": "Encuesta de victimización",
        "def.victimisation.formula": "Σ pesos de víctimas / Σ pesos; IC 95%",
        "def.reporting": "Tasa de denuncia y cifra negra",
        "def.reporting.what": "Proporción de delitos denunciados; la cifra negra es la no denunciada o sin carpeta.",
        "def.reporting.source": "Encuesta de victimización (ENVIPE)",
        "def.reporting.formula": "cifra negra = 1 − denunciados × con carpeta abierta",
        "survey.victimisation": "Victimización",
        "survey.unsafe_city": "Se siente inseguro en la ciudad",
        "survey.unsafe_neighbourhood": "Se siente inseguro en su barrio",
        "survey.crime_rising": "Cree que el delito aumentó",
        "survey.reporting": "Tasa de denuncia",
        "survey.dark_figure": "Delitos fuera del registro oficial",
        "survey.trust_police": "Confía en la policía",
        "survey.trust_municipality": "Confía en el municipio",
        "survey.unreliable_short": "poco confiable",
        # issue 12: survey figures as the statistics offices publish them
        "survey.revictimisation": "Revictimización (2 o más delitos)",
        "survey.prevalence": "Prevalencia",
        "survey.household_victimisation": "Hogares victimizados",
        "survey.file_opened": "Se abrió carpeta de investigación",
        "survey.crimes": "Delitos estimados",
        "survey.incidence": "Incidencia (delitos por 100 000 hab.)",
        "survey.police_effective": "Policía municipal muy o algo efectiva",
        "survey.all_crimes": "Todos los delitos",
        "survey.dark.cifra_negra_inegi": "Cifra negra (INEGI)",
        "survey.dark.cifra_oculta_dane": "Cifra oculta (DANE)",
        "survey.dark.not_reported": "Cifra oculta (no denunciado)",
        "survey.level.city": "ciudad",
        "survey.level.state": "entidad",
        "survey.level.district": "distrito",
        "survey.level.neighbourhood": "barrio",
        "survey.level.survey": "toda la encuesta (no solo este territorio)",
        "survey.method.taylor": "diseño muestral (Taylor, estratos y UPM)",
        "survey.method.kish_wilson": "diseño desconocido (Wilson con n efectivo de Kish)",
        "survey.panel_note": "Nivel: {level} · Ola: {wave} · IC 95 %: {method}",
        "survey.no_data": "sin datos",
        "survey.ci95": "IC 95 %: {interval}",
        "survey.period_mismatch": "⚠ periodos distintos",
        "survey.no_fear_items": "Sin preguntas de temor en las encuestas cargadas",
        "survey.method_short.taylor": "Taylor (estratos y UPM)",
        "survey.method_short.kish_wilson": "Kish-Wilson (diseño desconocido)",
        "col.from_wave": "Desde",
        "survey.points": "{value} pts.",
        "survey.no_sex": "Las encuestas cargadas no registran el sexo de quien responde (o no hay respuestas).",
        "survey.one_wave": "Hace falta una segunda ola (o trimestre) de la misma encuesta para medir un cambio.",
        "col.to_wave": "Hasta",
        "survey.gender": "Violencia contra las mujeres: registros y encuesta",
        "survey.gender_recorded": "Delitos registrados de violencia sexual y familiar (conteos protegidos; nunca "
                                  "puntos en el mapa público)",
        "survey.gender_survey": "Encuesta: mujeres y hombres (IC 95 %)",
        "survey.women_minus_men": "Mujeres − hombres",
        "col.sex": "Sexo",
        "col.group": "Grupo",
        "col.by": "Según",
        "col.age": "Edad",
        "col.rate_annual": "Tasa anual registrada por 100 000",
        "col.perception": "Percepción",
        "col.survey_ratio": "Encuesta / registro",
        "survey.figures": "Cifras de la encuesta por ola",
        "survey.changes": "Cambio entre las dos últimas olas",
        "survey.significant": "cambio significativo (5 %)",
        "survey.not_significant": "sin cambio significativo",
        "survey.filters_not_applied": "Esta encuesta no registra el sexo o la edad de quien responde: el filtro no se "
                                      "aplica a sus cifras.",
        "survey.no_neighbourhood_level": "Esta encuesta no tiene nivel de barrio (solo ciudad): no hay mapa por "
                                         "barrio.",
        "survey.fear_own_scoring": "Índice de temor: preguntas de Paz Ciudadana, puntuación y cortes propios del "
                                   "proyecto (no comparable con los porcentajes publicados por Paz Ciudadana).",
        "col.crime_type": "Delito",
        "col.level": "Nivel",
        "col.method": "Método del IC",
        "col.p_value": "valor p",
        "emerging.new": "Nuevo",
        "emerging.intensifying": "Intensificándose",
        "emerging.persistent": "Persistente",
        "emerging.diminishing": "Disminuyendo",
        "emerging.sporadic": "Esporádico",
        "emerging.none": "Sin patrón",
        "unit.per100k": "por 100.000",
        # Disclosure notices: t(f"notice.{key}", lang, **access.notice_values()) (docs/disclosure.md).
        "notice.perturbed": ("Para proteger a las víctimas, cada cifra pública lleva un pequeño ajuste aleatorio "
                             "(de -{d} a +{d}, siempre el mismo para los mismos hechos): las sumas pueden no cuadrar."),
        "notice.small_counts_suppressed": ("En tablas por zona o de delitos sexuales y violencia familiar, "
                                           "las cifras menores que {k} se muestran como «s/d»."),
        "notice.snapped_to_month": "El período se amplió a meses completos.",
        "notice.snapped_to_quarter": "El período se amplió a trimestres completos.",
        "notice.snapped_to_year": "El período se amplió a años completos.",
        "notice.sensitive_coarse_only": ("Los delitos sexuales y la violencia familiar se publican solo por distrito "
                                         "y trimestre: no se incluyen en las tablas más detalladas."),
        "notice.victim_filters_public": "Los filtros de sexo y edad de la víctima no se aplican en la vista pública.",
        "notice.categories_widened": ("La vista pública muestra un delito, una sección de la clasificación ICCS o "
                                      "todos: la selección se amplió a su sección o a todos los delitos."),
    },
    "en": {
        "app.title": "Municipal crime observatory",
        "app.short": "Observatory",
        "synthetic": "Synthetic data: a demonstration city, not real data",
        "nav.overview": "Overview",
        "nav.map": "Map",
        "nav.trends": "Trends",
        "nav.perception": "Perception",
        "nav.neighbourhood": "Neighbourhood",
        "nav.data": "Data",
        "nav.login": "Log in",
        "nav.present": "Presentation mode",
        "nav.present_exit": "Leave presentation",
        "nav.language": "Español",
        "role.public": "Public view",
        "role.analyst": "Analyst",
        "role.admin": "Administrator",
        "nav.logout": "Log out",
        "filter.dates": "Period",
        "filter.date_start": "From",
        "filter.date_end": "To",
        "filter.categories": "Crimes",
        "filter.categories_all": "All crimes",
        "filter.source": "Source",
        "filter.source.both": "Complaints and police",
        "filter.source.complaint": "Complaints",
        "filter.source.police": "Police reports",
        "filter.district": "District",
        "filter.district_all": "All districts",
        "filter.sex": "Victim's sex",
        "filter.sex_all": "All",
        "filter.age": "Victim's age",
        "filter.age_all": "All ages",
        "filter.title": "Filters",
        "sex.F": "Female",
        "sex.M": "Male",
        "sex.X": "Other / not stated",
        "download.csv": "Download CSV",
        "nodata": "No data for these filters",
        "loading": "Loading…",
        "kpi.total": "Recorded crimes",
        "kpi.rate": "Rate per 100,000",
        "kpi.change": "Change vs last year",
        "kpi.change_sig": "significant (p < 0.05)",
        "kpi.change_nosig": "not significant",
        "kpi.fear": "High fear",
        "kpi.victimisation": "Victimisation",
        "kpi.na": "n/a",
        "overview.title": "Overview",
        "overview.compstat": "CompStat: periods against the year before",
        "overview.hotspots": "Hotspots (Gi*)",
        "overview.risers": "Neighbourhoods that rose most",
        "overview.targets": "Plan targets",
        "overview.targets_note": "Current value: the last 12 months with data (complaints and police). "
                                 "Progress: 0% at the baseline, 100% at the target.",
        "overview.interventions": "Intervention evaluation",
        "overview.interventions_note": "Ratio of ratios: the change in the treated neighbourhoods divided by the "
                                       "change in the comparison neighbourhoods (all others except the treated "
                                       "ones' neighbours, where displacement would show), 12 months before and "
                                       "after the start, for the crimes, source and victims of the filters; "
                                       "quasi-Poisson 95% CI (the variance grows with the dispersion the "
                                       "neighbourhoods show). Assumes parallel trends.",
        "overview.interventions_unapplied": "This panel does not apply: {filters}. Each intervention's start and "
                                            "neighbourhoods define them.",
        "target.rate_per_100k": "Rate per 100,000 inhabitants: {category}",
        "target.count": "Recorded crimes: {category}",
        "target.scope_city": "City",
        "target.status.achieved": "Target reached",
        "target.status.on track": "On track",
        "target.status.off track": "Off track",
        "target.status.no data": "No data",
        "intervention.verdict.drop": "Significant drop",
        "intervention.verdict.no_change": "No significant change",
        "intervention.verdict.rise": "Significant rise",
        "intervention.verdict.insufficient": "Not enough data",
        "intervention.verdict.withheld": "Too few cases to publish",
        "intervention.effect": "{pct} against the expected",
        "intervention.comparison": "{n} neighbourhoods; without the {m} neighbours of the treated ones: {codes}",
        "intervention.comparison_all": "{n} neighbourhoods (all others)",
        "col.comparison": "Comparison",
        "overview.risers_period": "{start} – {end} against {prev_start} – {prev_end}, per day. Significant "
                                  "changes first (p < 0.05), then the rest, by change of the rate per 100,000.",
        "overview.risers_up": "Rises",
        "overview.risers_down": "Falls",
        "map.no_population": "The neighbourhood layer lacks the population of some or all neighbourhoods: no "
                             "rates without it. An analyst can attach it from a CSV with "
                             "“observatory boundaries population FILE --id-field … "
                             "--population-field …” or on the upload page.",
        "map.density_unit": "incidents per km²",
        "kpi.no_population": "No population in the neighbourhood layer: see the Data page",
        "map.density_note": "Gaussian kernel density: bandwidth {bandwidth} m, {cell} m cells, {n} incidents",
        "map.smoothed_interval": "95% interval",
        "map.significance": "Significant at 5% (two-sided)",
        "map.significance_fdr": "Significant at 5% (two-sided, Benjamini-Hochberg FDR)",
        "map.fdr": "Correct for multiple comparisons (FDR) in Gi* and Moran",
        "trends.partial": "Partial month",
        "col.scope": "Scope",
        "col.baseline": "Baseline",
        "col.target": "Target",
        "col.target_on": "Target date",
        "col.progress": "Progress",
        "col.status": "Status",
        "col.intervention": "Intervention",
        "col.areas": "Neighbourhoods",
        "col.ratio": "Ratio of ratios",
        "col.ci95": "95% CI",
        "col.effect": "Effect",
        "col.verdict": "Result",
        "map.title": "Map",
        "map.layer": "Layer",
        "map.layer.counts": "Crimes (count)",
        "map.layer.rates": "Rate per 100,000",
        "map.layer.smoothed": "Smoothed rate (empirical Bayes)",
        "map.layer.gi": "Gi* hotspots",
        "map.layer.moran": "Local Moran clusters",
        "map.layer.emerging": "Emerging hotspots",
        "map.layer.density": "Density (heat map)",
        "map.layer.points": "Incidents (points)",
        "map.classes": "Classes",
        "map.hint": "Click a neighbourhood to open its profile.",
        "map.points_restricted": "Points are shown to analysts only; the public view sees aggregates.",
        "trends.title": "Trends",
        "trends.monthly": "Monthly series",
        "trends.hourweek": "Hour of day × weekday",
        "trends.breakdown": "Crimes by category over time",
        "trends.expected": "Expected band (trend and season)",
        "trends.flagged": "Unusual months",
        "trends.ma3": "3-month moving average",
        "trends.ma12": "12-month moving average",
        "trends.lastyear": "Last year",
        "trends.count": "Crimes",
        "perception.title": "Perception",
        "perception.fear": "Fear of crime index (low / medium / high)",
        "perception.fear_map": "High fear by neighbourhood",
        "perception.fear_map_by_district": "High fear by district",
        "perception.by_sex": "High fear by sex",
        "perception.by_age": "High fear by age",
        "perception.indicators": "Survey indicators",
        "perception.waves": "Survey waves",
        "perception.recorded_vs_survey": "Recorded crime vs reported victimisation",
        "perception.unreliable": "Unreliable estimate (small effective sample)",
        "perception.nosurvey": "No survey loaded.",
        "perception.fear_map_district": "Most neighbourhood estimates are unreliable (too few respondents), so "
                                        "the map shows districts.",
        "nav.analysis": "Analysis",
        "neighbourhood.title": "Neighbourhood profile",
        "neighbourhood.pick": "Neighbourhood",
        "neighbourhood.city": "City",
        "neighbourhood.none": "Pick a neighbourhood.",
        "data.title": "Data",
        "data.imports": "Import history",
        "data.rejected": "Rejected rows",
        "data.unknown": "Unknown labels",
        "data.unassigned": "Incidents without a neighbourhood",
        "data.definitions": "Indicator definitions",
        "data.sources": "Sources",
        "level.low": "Low",
        "level.medium": "Medium",
        "level.high": "High",
        "gi.hot99": "Hot spot 99%",
        "gi.hot95": "Hot spot 95%",
        "gi.hot90": "Hot spot 90%",
        "gi.ns": "Not significant",
        "gi.cold90": "Cold spot 90%",
        "gi.cold95": "Cold spot 95%",
        "gi.cold99": "Cold spot 99%",
        "moran.HH": "High-high",
        "moran.LL": "Low-low",
        "moran.HL": "High-low (outlier)",
        "moran.LH": "Low-high (outlier)",
        "moran.ns": "Not significant",
        "col.area": "Neighbourhood",
        "col.code": "Code",
        "col.district": "District",
        "col.count": "Crimes",
        "col.rate": "Rate",
        "col.class": "Class",
        "col.month": "Month",
        "col.category": "Category",
        "col.period": "Period",
        "col.current": "Current",
        "col.previous": "Year before",
        "col.change": "Change",
        "col.change_pct": "Change %",
        "col.pvalue": "p-value",
        "col.value": "Value",
        "col.low": "95% CI low",
        "col.high": "95% CI high",
        "col.wave": "Wave",
        "col.indicator": "Indicator",
        "col.file": "File",
        "col.kind": "Kind",
        "col.started": "Started",
        "col.total": "Read",
        "col.loaded": "Loaded",
        "col.rejected": "Rejected",
        "col.duplicates": "Duplicates",
        "col.unassigned": "Unassigned",
        "col.row": "Row",
        "col.field": "Field",
        "col.reason": "Reason",
        "col.label": "Label",
        "col.hour": "Hour",
        "col.weekday": "Day",
        "col.definition": "Definition",
        "col.source": "Source",
        "col.formula": "Formula",
        "col.n": "n",
        "period.week": "Week to date",
        "period.12m": "Last 12 months",
        "period.28d": "Last 28 days",
        "period.ytd": "Year to date",
        "weekday.0": "Mon",
        "weekday.1": "Tue",
        "weekday.2": "Wed",
        "weekday.3": "Thu",
        "weekday.4": "Fri",
        "weekday.5": "Sat",
        "weekday.6": "Sun",
        "def.count": "Recorded crimes",
        "def.count.what": "Number of complaints and/or police reports in the chosen period and filters.",
        "def.count.source": "Imported complaints and police reports",
        "def.count.formula": "Σ incidents (aggregated records add their count)",
        "def.rate": "Rate per 100,000 inhabitants",
        "def.rate.what": "Crimes per 100,000 inhabitants of the area, not annualised.",
        "def.rate.source": "Incidents and the population of the neighbourhood layer",
        "def.rate.formula": "count / population × 100,000",
        "def.change": "Change vs last year",
        "def.change.what": "Difference with the same period a year earlier; conditional binomial test of two "
        "Poisson counts.",
        "def.change.source": "Incidents (CompStat convention, Monday-to-Sunday weeks)",
        "def.change.formula": "(current − previous) / previous × 100; p of binom(current | current + previous, 0.5)",
        "def.gi": "Gi* hotspots",
        "def.gi.what": "Neighbourhoods whose surroundings add up to more (or fewer) crimes than chance would give.",
        "def.gi.source": "Counts per neighbourhood and contiguity",
        "def.gi.formula": "Getis-Ord Gi* z with binary weights; 90/95/99% classes",
        "def.fear": "Fear of crime index",
        "def.fear.what": "Sum of three perception and four fear items (Paz Ciudadana), as low/medium/high.",
        "def.fear.source": "Victimisation and perception survey",
        "def.fear.formula": "score weighted by the expansion factor; configurable thresholds",
        "def.victimisation": "Victimisation",
        "def.victimisation.what": "Share of respondents victim of at least one crime in the reference period.",
        "def.victimisation.source": "Victimisation survey",
        "def.victimisation.formula": "Σ weights of victims / Σ weights; 95% CI",
        "def.reporting": "Reporting rate and dark figure",
        "def.reporting.what": "Share of crimes reported; the dark figure is the share unreported or with no file "
        "opened.",
        "def.reporting.source": "Victimisation survey (ENVIPE)",
        "def.reporting.formula": "dark figure = 1 − reported × file opened",
        "survey.victimisation": "Victimisation",
        "survey.unsafe_city": "Feels unsafe in the city",
        "survey.unsafe_neighbourhood": "Feels unsafe in the neighbourhood",
        "survey.crime_rising": "Thinks crime rose",
        "survey.reporting": "Reporting rate",
        "survey.dark_figure": "Crimes outside official records",
        "survey.trust_police": "Trusts the police",
        "survey.trust_municipality": "Trusts the municipality",
        "survey.unreliable_short": "unreliable",
        # issue 12: survey figures as the statistics offices publish them
        "survey.revictimisation": "Revictimisation (2 or more crimes)",
        "survey.prevalence": "Prevalence",
        "survey.household_victimisation": "Households victimised",
        "survey.file_opened": "Investigation file opened",
        "survey.crimes": "Estimated crimes",
        "survey.incidence": "Incidence (crimes per 100,000 pop.)",
        "survey.police_effective": "Municipal police very or somewhat effective",
        "survey.all_crimes": "All crimes",
        "survey.dark.cifra_negra_inegi": "Dark figure (INEGI cifra negra)",
        "survey.dark.cifra_oculta_dane": "Hidden figure (DANE cifra oculta)",
        "survey.dark.not_reported": "Hidden figure (not reported)",
        "survey.level.city": "city",
        "survey.level.state": "state",
        "survey.level.district": "district",
        "survey.level.neighbourhood": "neighbourhood",
        "survey.level.survey": "whole survey (not only this territory)",
        "survey.method.taylor": "survey design (Taylor, strata and PSUs)",
        "survey.method.kish_wilson": "design unknown (Wilson on Kish's effective n)",
        "survey.panel_note": "Level: {level} · Wave: {wave} · 95% CI: {method}",
        "survey.no_data": "no data",
        "survey.ci95": "95% CI: {interval}",
        "survey.period_mismatch": "⚠ different periods",
        "survey.no_fear_items": "The loaded surveys ask no fear questions",
        "survey.method_short.taylor": "Taylor (strata and PSUs)",
        "survey.method_short.kish_wilson": "Kish-Wilson (design unknown)",
        "col.from_wave": "From",
        "survey.points": "{value} pp",
        "survey.no_sex": "The loaded surveys do not record the respondent's sex (or nobody answered).",
        "survey.one_wave": "A second wave (or quarter) of the same survey is needed to measure a change.",
        "col.to_wave": "To",
        "survey.gender": "Violence against women: records and survey",
        "survey.gender_recorded": "Recorded sexual and domestic violence (protected counts; never points on the "
                                  "public map)",
        "survey.gender_survey": "Survey: women and men (95% CI)",
        "survey.women_minus_men": "Women − men",
        "col.sex": "Sex",
        "col.group": "Group",
        "col.by": "By",
        "col.age": "Age",
        "col.rate_annual": "Recorded annual rate per 100,000",
        "col.perception": "Perception",
        "col.survey_ratio": "Survey / recorded",
        "survey.figures": "Survey figures by wave",
        "survey.changes": "Change between the last two waves",
        "survey.significant": "significant change (5%)",
        "survey.not_significant": "no significant change",
        "survey.filters_not_applied": "This survey does not record the respondent's sex or age: the filter does not "
                                      "apply to its figures.",
        "survey.no_neighbourhood_level": "This survey has no neighbourhood level (city only): no neighbourhood map.",
        "survey.fear_own_scoring": "Fear index: Paz Ciudadana's questions, the project's own scoring and cut-offs "
                                   "(not comparable with Paz Ciudadana's published percentages).",
        "col.crime_type": "Crime",
        "col.level": "Level",
        "col.method": "CI method",
        "col.p_value": "p-value",
        "emerging.new": "New",
        "emerging.intensifying": "Intensifying",
        "emerging.persistent": "Persistent",
        "emerging.diminishing": "Diminishing",
        "emerging.sporadic": "Sporadic",
        "emerging.none": "No pattern",
        "unit.per100k": "per 100,000",
        # Disclosure notices: t(f"notice.{key}", lang, **access.notice_values()) (docs/disclosure.md).
        "notice.perturbed": ("To protect victims, every public figure carries a small random adjustment "
                             "(-{d} to +{d}, always the same for the same incidents): sums may not add up."),
        "notice.small_counts_suppressed": ("In tables by area, and for sexual and domestic violence, "
                                           "figures below {k} are shown as “n/a”."),
        "notice.snapped_to_month": "The period was widened to whole months.",
        "notice.snapped_to_quarter": "The period was widened to whole quarters.",
        "notice.snapped_to_year": "The period was widened to whole years.",
        "notice.sensitive_coarse_only": ("Sexual and domestic violence are published by district and quarter only: "
                                         "they are left out of the more detailed tables."),
        "notice.victim_filters_public": "Victim sex and age filters are not applied in the public view.",
        "notice.categories_widened": ("The public view shows one crime category, one ICCS section or all of them: "
                                      "the selection was widened to its section or to every category."),
    },
}

# Indicator definitions shown on the Data page (keys def.<name>, .what, .source, .formula).
DEFINITIONS: tuple[str, ...] = ("count", "rate", "change", "gi", "fear", "victimisation", "reporting")


def lang_or_default(lang: str | None) -> str:
    """A supported language code (``es`` when ``lang`` is missing or unknown)."""
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


def t(key: str, lang: str | None = None, **values: object) -> str:
    """Translate catalogue ``key`` into ``lang``; ``values`` fill ``{name}`` placeholders.

    Raises ``KeyError`` for an unknown key so that a missing translation fails loudly in tests
    instead of leaking the key onto a projected page.
    """
    text = CATALOGUE[lang_or_default(lang)][key]
    return text.format(**values) if values else text


def _separators(lang: str) -> tuple[str, str]:
    """(decimal, group) symbols of ``lang`` from Babel's CLDR data."""
    locale = _LOCALES[lang]
    return get_decimal_symbol(locale), get_group_symbol(locale)


_SEPARATORS = {lang: _separators(lang) for lang in LANGUAGES}


def fmt_number(value: float | int | None, lang: str | None = None, digits: int = 0) -> str:
    """``value`` with the locale's separators and ``digits`` decimals; ``n/a`` / ``s/d`` for missing.

    Separators come from Babel (CLDR); grouping is always applied (``1.234`` in Spanish too,
    so that columns of numbers line up). Formatting itself is Python's, fast enough for
    thousands of map hover labels.
    """
    lang = lang_or_default(lang)
    if value is None or value is PD_NA or (isinstance(value, float) and math.isnan(value)):
        return t("kpi.na", lang)
    decimal, group = _SEPARATORS[lang]
    text = f"{float(value):,.{digits}f}"
    return text.replace(",", "\x00").replace(".", decimal).replace("\x00", group)


def fmt_percent(share: float | None, lang: str | None = None, digits: int = 1) -> str:
    """A share in [0, 1] as a locale percentage (``12,5 %`` in Spanish)."""
    lang = lang_or_default(lang)
    if share is None or (isinstance(share, float) and math.isnan(share)):
        return t("kpi.na", lang)
    # Spanish writes a (non-breaking) space before the sign, English does not.
    return fmt_number(share * 100, lang, digits) + ("\xa0%" if lang == "es" else "%")


def fmt_date(value: dt.date | str | None, lang: str | None = None, style: str = "medium") -> str:
    """A date in the locale's ``style`` (``short``, ``medium``, ``long``); ISO strings accepted."""
    lang = lang_or_default(lang)
    if value is None or value == "":
        return t("kpi.na", lang)
    if isinstance(value, str):
        value = dt.date.fromisoformat(value[:10])
    return _babel_date(value, format=style, locale=_LOCALES[lang])


def fmt_month(value: dt.date | str, lang: str | None = None) -> str:
    """A month as ``ene 2024`` / ``Jan 2024``."""
    lang = lang_or_default(lang)
    if isinstance(value, str):
        value = dt.date.fromisoformat(value[:10])
    return _babel_date(value, format="MMM y", locale=_LOCALES[lang])


def category_name(code: str, lang: str | None, names: dict[str, tuple[str, str]] | None = None) -> str:
    """Display name of a crime category from ``names`` (code -> (es, en)) or the built-in taxonomy."""
    if names is None:
        from observatory.taxonomy import categories_by_code

        cat = categories_by_code().get(code)
        names = {code: (cat.name_es, cat.name_en)} if cat else {}
    es, en = names.get(code, (code, code))
    return en if lang_or_default(lang) == "en" else es


# Disclosure control (issue 9): the protection notice every public page shows, and what the
# public gets instead of a statistic it may not see. Parameters ({k}, {noise}) come from the policy.
CATALOGUE["es"].update({
    "notice.title": "Protección de datos",
    "notice.protection": "Los conteos menores que {k} se muestran como «< {k}»; cada conteo publicado se perturba "
    "hasta ±{noise} para que las celdas pequeñas no puedan recuperarse restando; la violencia sexual y familiar se "
    "publica solo por {coarse}. «{na}»: sin dato (protegido o no disponible).",
    "period.month": "Mes",
    "period.quarter": "Trimestre",
    "period.year": "Año",
    "notice.level.district": "distrito",
    "notice.level.city": "ciudad",
    "notice.unit.month": "mes",
    "notice.unit.quarter": "trimestre",
    "notice.unit.year": "año",
    "notice.grid": "{level} y {unit}",
    "notice.hotspots_sensitive": "Sin análisis de puntos calientes para violencia sexual o familiar en la vista "
    "pública: estos delitos se publican solo por {coarse}.",
    "notice.hotspots_suppressed": "Análisis de puntos calientes retenido: más de la mitad de las celdas de esta "
    "selección están protegidas.",
    "gi.withheld": "Retenido (protección de datos)",
    "moran.withheld": "Retenido (protección de datos)",
    "intervention.verdict.withheld": "Retenido (protección de datos: muy pocos casos)",
})
CATALOGUE["en"].update({
    "notice.title": "Data protection",
    "notice.protection": "Counts below {k} are shown as '< {k}'; every published count is perturbed by up to "
    "±{noise} so that small cells cannot be recovered by subtraction; sexual and domestic violence are published "
    "by {coarse} only. '{na}': no data (protected or not available).",
    "period.month": "Month",
    "period.quarter": "Quarter",
    "period.year": "Year",
    "notice.level.district": "district",
    "notice.level.city": "city",
    "notice.unit.month": "month",
    "notice.unit.quarter": "quarter",
    "notice.unit.year": "year",
    "notice.grid": "{level} and {unit}",
    "notice.hotspots_sensitive": "No hot-spot analysis of sexual or domestic violence in the public view: these "
    "crimes are published by {coarse} only.",
    "notice.hotspots_suppressed": "Hot-spot analysis withheld: more than half of the cells of this selection are "
    "protected.",
    "gi.withheld": "Withheld (data protection)",
    "moran.withheld": "Withheld (data protection)",
    "intervention.verdict.withheld": "Withheld (data protection: too few cases)",
})


# Datos page: names for the codes it lists (issue 11, item 17). Kept in one block so the page's
# vocabulary reads in one place; merged into the catalogue like every other key. Police reports and
# complaints keep their one name, ``filter.source.*``; ``data.kind.*`` names the other import kinds.
_DATA_PAGE: dict[str, dict[str, str]] = {
    "es": {
        "col.detail": "Detalle", "col.rows": "Filas", "col.records": "Registros", "col.profile": "Perfil",
        "col.layer": "Capa",
        "data.kind.survey": "Encuesta",
        "data.kind.boundaries": "Límites", "data.kind.reclassification": "Reclasificación",
        "data.kind.population": "Población",
        "data.status.done": "Completada", "data.status.failed": "Fallida", "data.status.running": "En curso",
        "data.where.no_location": "Sin ubicación", "data.where.outside_areas": "Fuera de los barrios",
        "data.where.area_not_found": "Barrio declarado no encontrado",
        "data.reject.malformed_line": "Línea mal formada", "data.reject.missing_value": "Falta un dato obligatorio",
        "data.reject.repeated_id": "Identificador repetido", "data.reject.date": "Fecha ilegible o imposible",
        "data.reject.time": "Hora ilegible", "data.reject.coordinates": "Coordenadas inválidas",
        "data.reject.count": "Conteo inválido", "data.reject.age": "Edad inválida", "data.reject.sex": "Sexo inválido",
        "data.reject.category": "Categoría inválida", "data.reject.geometry": "Geometría sin polígono",
        "data.reject.area_not_found": "Área no encontrada", "data.reject.population": "Población inválida",
        "data.reject.weight": "Factor de expansión inválido", "data.reject.other": "Otro motivo",
        "data.rejected.public_note": "Para proteger a las personas, aquí solo se muestra cuántas filas se rechazaron "
                                     "y por qué tipo de motivo; los valores rechazados solo los ven los analistas.",
    },
    "en": {
        "col.detail": "Detail", "col.rows": "Rows", "col.records": "Records", "col.profile": "Profile",
        "col.layer": "Layer",
        "data.kind.survey": "Survey",
        "data.kind.boundaries": "Boundaries", "data.kind.reclassification": "Reclassification",
        "data.kind.population": "Population",
        "data.status.done": "Done", "data.status.failed": "Failed", "data.status.running": "Running",
        "data.where.no_location": "No location", "data.where.outside_areas": "Outside the neighbourhoods",
        "data.where.area_not_found": "Declared neighbourhood not found",
        "data.reject.malformed_line": "Malformed line", "data.reject.missing_value": "A required value is missing",
        "data.reject.repeated_id": "Repeated id", "data.reject.date": "Unreadable or impossible date",
        "data.reject.time": "Unreadable time", "data.reject.coordinates": "Invalid coordinates",
        "data.reject.count": "Invalid count", "data.reject.age": "Invalid age", "data.reject.sex": "Invalid sex",
        "data.reject.category": "Invalid category", "data.reject.geometry": "Geometry without a polygon",
        "data.reject.area_not_found": "Area not found", "data.reject.population": "Invalid population",
        "data.reject.weight": "Invalid survey weight", "data.reject.other": "Other reason",
        "data.rejected.public_note": "To protect people, only how many rows were rejected and the kind of reason are "
                                     "shown here; the rejected values are for analysts only.",
    },
}
for _lang, _entries in _DATA_PAGE.items():
    CATALOGUE[_lang].update(_entries)
