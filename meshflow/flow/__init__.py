"""meshflow.flow"""
