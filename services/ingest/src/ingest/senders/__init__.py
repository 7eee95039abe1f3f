"""Sender health: what Meta reports of each sender number and business account (quality,
messaging limit, throughput, restrictions), stored for the dispatcher to act on."""
