"""The Python baseline for the cold-start benchmark: what a Python gate-start would do at init.

It imports boto3 and creates the CodeCommit, Step Functions and DynamoDB clients at module load
(as the Lambda guidance for shared clients says), then runs a minimal Runtime API loop with
urllib, as a custom runtime would: GET next → handler → POST response. The handler only
echoes the event's detail-type: the benchmark measures init, up to the first `next` request.
"""

import json
import os
import urllib.request

import boto3

codecommit = boto3.client("codecommit")
sfn = boto3.client("stepfunctions")
dynamodb = boto3.client("dynamodb")

API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"


def handler(event, _request_id):
    return {"action": "ignore", "detail-type": event.get("detail-type")}


def main():
    while True:
        with urllib.request.urlopen(API + "next") as r:
            request_id = r.headers["Lambda-Runtime-Aws-Request-Id"]
            event = json.loads(r.read())
        try:
            body, kind = handler(event, request_id), "response"
        except Exception as e:  # noqa: BLE001 - reported to the Runtime API
            body, kind = {"errorMessage": str(e), "errorType": type(e).__name__}, "error"
        req = urllib.request.Request(
            API + request_id + "/" + kind,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(req).read()


if __name__ == "__main__":
    main()
