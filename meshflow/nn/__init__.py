"""meshflow.nn"""
