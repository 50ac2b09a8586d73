# The Locust side of bench/compare: FastHttpUser (geventhttpclient), no wait,
# one GET and a status check per task, as bench_get.cpp does.
from locust import FastHttpUser, constant, task


class Get(FastHttpUser):
    wait_time = constant(0)

    @task
    def get(self):
        with self.client.get("/", catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"status {r.status_code}")
