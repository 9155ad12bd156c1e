"""meshflow.io"""
