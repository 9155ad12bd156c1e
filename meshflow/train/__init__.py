"""meshflow.train"""
