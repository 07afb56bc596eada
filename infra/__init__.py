"""Deployment: the CloudFormation resources merged into `chalice package` output.

Nothing here is packaged into the Lambda (Chalice ships only app.py, chalicelib/
and vendor/); these modules run on the machine that builds the deployment.
"""
