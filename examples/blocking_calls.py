"""The same calls from plain blocking code (a script, a Django view, a cron job).

Run: python examples/blocking_calls.py
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import voicekit
from voicekit.huawei import Prompt
from voicekit.sandbox import SyncSandbox


def main() -> None:
    with SyncSandbox() as sb:
        with voicekit.TeleCMI(
            appid=sb.telecmi_appid, secret=sb.telecmi_secret, base_url=sb.url, piopiy_url=sb.url
        ) as tc:
            call = tc.play_music(from_=19170000000, to=19170000001, file_name="welcome.wav")
            print("play a music:", call.status, call.request_id)

            # One client, many threads: every call goes through the same rate limiter.
            with ThreadPoolExecutor(8) as pool:
                calls = list(
                    pool.map(
                        lambda n: tc.play_music(from_=19170000000, to=n, file_name="welcome.wav"),
                        range(9100000000, 9100000020),
                    )
                )
            print("threads:", len(calls), "calls placed")

            print("records:", sum(1 for _ in tc.outgoing_answered(page_size=10)))

        with voicekit.HuaweiVoice(base_url=sb.url, app_key=sb.huawei_app_key, app_secret=sb.huawei_app_secret) as hw:
            n = hw.create_voice_notification(called="8899", play_list=[Prompt(voice_id="100001")])
            print("notification:", n.call_serial_no)


if __name__ == "__main__":
    main()
