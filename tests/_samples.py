"""The vendor documents' own sample JSON, copied verbatim from the documents."""

PLAY_MUSIC_REQUEST = """{
"appid": 2222226,
"secret": "xxxx-xxxx-xxxx-xxxx",
"from": 19170000000,
"to": 19170000001,
"extra_params": { "key": "value" },
"pcmo": [
{
"action": "play",
"file_name": "welcome_11112.wav"
}
]
}"""

MAKE_CALL_REQUEST = """{
"appid": 2222226,
"secret": "xxxx-xxxx-xxxx-xxxx",
"from": 19170000000,
"to": 19170000001,
"extra_params": { "key": "value" },
"pcmo": [
{
"action": "bridge",
"duration": 300,
"timeout": 20,
"from": 19170000000,
"loop": 2,
"connect": [
{
"type": "pstn",
"number": 19170000002
}
]
}
]
}"""

MAKE_CALL_RESPONSE = """{
"data": {
"status": "progress",
"request_id": "FrTckxcdYpJQFwSwki7ee2qY90MOYhgRyFzqgSlK5uT"
},
"status": "progress",
"request_id": "FrTckxcdYpJQFwSwki7ee2qY90MOYhgRyFzqgSlK5uT",
"code": 200
}"""

CLICK2CALL_REQUEST = (
    '{"user_id": "101_1111112","secret": "2e0d75-d843-45-945-4171dd7a","to": 9100000000,'
    '"extra_params": {"crm": true},"webrtc": true,"followme": false}'
)
CLICK2CALL_RESPONSE = (
    '{"code": 200,"msg": "Call initiated","request_id": "s96C6XK1BUHX0oVZfOo5NhoJfZZJd0y1nmrNN6dhdkW"}'
)

OUTANSWERED_REQUEST = """{
"appid": 1111113,
"token": "xxxx-xxxx-xxxx-xxx",
"start_date": 1570559400000,
"end_date": 1570642200000,
"page": 1,
"limit": 5
}"""

OUTANSWERED_RESPONSE = """{
"total": 3,
"cdr": [
{
"_id": "5d9df5b97a2b952710b030dd",
"to": 9100000000,
"time": 1570633217848,
"from": "209_1111113",
"billedsec": 17,
"rate": "0.6",
"record": "true",
"filename": "157063321784855021379679261_1111113.mp3",
"name": "unknown"
},
{
"_id": "5d9df5097a2b952710b030d8",
"to": 9200000000,
"time": 1570633054497,
"from": "208_1111113",
"billedsec": 3,
"rate": "0.6",
"record": "true",
"filename": "157063305449713703081057884_1111113.mp3",
"name": "unknown"
},
{
"_id": "5d9df556362b8f1430593411",
"to": 9300000000,
"time": 1570632951992,
"from": "206_1111113",
"billedsec": 30,
"rate": "0.6",
"record": "true",
"filename": "157063295199223390097444834_1111113.mp3",
"name": "unknown"
}
],
"code": 200
}"""

HUAWEI_REQUEST = (
    '{ "called": "8899", "playList": [{ "voiceId": "100001", "templateParams": ["100","200"] }], '
    '"playTimes": 1, "callerPresent": "2222201", "callBackUrl": "http://xx.xx.xx.xx:8800/callbackTest" }'
)
HUAWEI_RESPONSE = (
    '{ "retMsg": "Created successfully.", "retCode": "0", "result": {"callSerialNo": "1308434073450058757"} }'
)
