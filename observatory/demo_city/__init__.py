"""Generators of the synthetic demo municipality ("Ciudad Demo (datos sintéticos)").

Pure functions of a seed: :mod:`.city` draws the neighbourhoods, districts, populations and
the planted hotspots and intervention area; :mod:`.incidents` draws police reports and
complaints; :mod:`.survey` draws the victimisation-survey waves. ``observatory.demo`` writes
them to files and loads them through the real importers.
"""
