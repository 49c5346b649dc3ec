--
-- PostgreSQL database dump
--

\restrict yodlztScAFoh9sudrSxl2r7naw8ccicu3aFaw8IN1jCYm1mz0dy2hIgmhA30mOV

-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: voicekit_calls; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.voicekit_calls (
    key text NOT NULL,
    "row" integer,
    state text NOT NULL,
    spec text,
    holder text,
    token text,
    request_id text,
    error_type text,
    error text,
    retryable integer DEFAULT 0 NOT NULL,
    updated timestamp with time zone NOT NULL,
    sent timestamp with time zone
);


--
-- Name: voicekit_meta; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.voicekit_meta (
    name text NOT NULL,
    value text NOT NULL
);


--
-- Name: voicekit_outcomes; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.voicekit_outcomes (
    vendor_id text NOT NULL,
    key text,
    answered boolean NOT NULL,
    request_id text,
    number text,
    "time" double precision,
    billed_seconds integer,
    rate text,
    hangup_reason text,
    source text NOT NULL,
    received timestamp with time zone NOT NULL
);


--
-- Name: voicekit_workers; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.voicekit_workers (
    id text NOT NULL,
    host text NOT NULL,
    pid integer NOT NULL,
    started timestamp with time zone NOT NULL,
    expires timestamp with time zone NOT NULL,
    state text NOT NULL
);


--
-- Data for Name: voicekit_calls; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.voicekit_calls VALUES ('k10@row14', 14, 'failed', NULL, NULL, NULL, NULL, 'MalformedRow', 'duplicate key ''k10'' (first at row 11)', 0, '2026-12-03 10:25:45.7522+00', NULL);
INSERT INTO public.voicekit_calls VALUES ('k09', 10, 'pending', '{"key": "k09", "from": "19170000000", "to": "9100000009", "file_name": "welcome.wav", "file_url": null, "region": "global", "extra_params": null}', 'vm:9842:949f8077', NULL, NULL, NULL, NULL, 0, '2026-12-03 10:25:45.7522+00', NULL);
INSERT INTO public.voicekit_calls VALUES ('k10', 11, 'pending', '{"key": "k10", "from": "19170000000", "to": "9100000010", "file_name": "welcome.wav", "file_url": null, "region": "global", "extra_params": null}', 'vm:9842:949f8077', NULL, NULL, NULL, NULL, 0, '2026-12-03 10:25:45.7522+00', NULL);
INSERT INTO public.voicekit_calls VALUES ('k11', 12, 'pending', '{"key": "k11", "from": "19170000000", "to": "9100000011", "file_name": "welcome.wav", "file_url": null, "region": "global", "extra_params": null}', 'vm:9842:949f8077', NULL, NULL, NULL, NULL, 0, '2026-12-03 10:25:45.7522+00', NULL);
INSERT INTO public.voicekit_calls VALUES ('k12', 13, 'pending', '{"key": "k12", "from": "19170000000", "to": "9100000012", "file_name": "welcome.wav", "file_url": null, "region": "global", "extra_params": null}', 'vm:9842:949f8077', NULL, NULL, NULL, NULL, 0, '2026-12-03 10:25:45.7522+00', NULL);
INSERT INTO public.voicekit_calls VALUES ('k07', 8, 'sending', '{"key": "k07", "from": "19170000000", "to": "9100000007", "file_name": "welcome.wav", "file_url": null, "region": "global", "extra_params": null}', 'vm:9842:949f8077', 'c03c1d0d0c284e769579c896aae72496', NULL, NULL, NULL, 0, '2026-12-03 10:25:45.758142+00', '2026-12-03 10:25:45.758142+00');
INSERT INTO public.voicekit_calls VALUES ('k08', 9, 'sending', '{"key": "k08", "from": "19170000000", "to": "9100000008", "file_name": "welcome.wav", "file_url": null, "region": "global", "extra_params": null}', 'vm:9842:949f8077', 'c03c1d0d0c284e769579c896aae72496', NULL, NULL, NULL, 0, '2026-12-03 10:25:45.758142+00', '2026-12-03 10:25:45.758142+00');
INSERT INTO public.voicekit_calls VALUES ('k01', 2, 'placed', '{"key": "k01", "from": "19170000000", "to": "9100000001", "file_name": "welcome.wav", "file_url": null, "region": "global", "extra_params": null}', 'vm:9842:949f8077', 'c03c1d0d0c284e769579c896aae72496', '5b1e0c7a-94d2-4b7e-8f03-1c2a9d6e4f01', NULL, NULL, 0, '2026-12-03 10:25:45.758821+00', '2026-12-03 10:25:45.758142+00');
INSERT INTO public.voicekit_calls VALUES ('k02', 3, 'placed', '{"key": "k02", "from": "19170000000", "to": "9100000002", "file_name": "welcome.wav", "file_url": null, "region": "global", "extra_params": null}', 'vm:9842:949f8077', 'c03c1d0d0c284e769579c896aae72496', '5b1e0c7a-94d2-4b7e-8f03-1c2a9d6e4f02', NULL, NULL, 0, '2026-12-03 10:25:45.758821+00', '2026-12-03 10:25:45.758142+00');
INSERT INTO public.voicekit_calls VALUES ('k03', 4, 'placed', '{"key": "k03", "from": "19170000000", "to": "9100000003", "file_name": "welcome.wav", "file_url": null, "region": "global", "extra_params": null}', 'vm:9842:949f8077', 'c03c1d0d0c284e769579c896aae72496', '5b1e0c7a-94d2-4b7e-8f03-1c2a9d6e4f03', NULL, NULL, 0, '2026-12-03 10:25:45.758821+00', '2026-12-03 10:25:45.758142+00');
INSERT INTO public.voicekit_calls VALUES ('k04', 5, 'failed', '{"key": "k04", "from": "19170000000", "to": "9100000004", "file_name": "welcome.wav", "file_url": null, "region": "global", "extra_params": null}', 'vm:9842:949f8077', 'c03c1d0d0c284e769579c896aae72496', NULL, 'ConnectError', 'cannot connect to the vendor: Connection refused', 1, '2026-12-03 10:25:45.758821+00', '2026-12-03 10:25:45.758142+00');
INSERT INTO public.voicekit_calls VALUES ('k05', 6, 'failed', '{"key": "k05", "from": "19170000000", "to": "9100000005", "file_name": "welcome.wav", "file_url": null, "region": "global", "extra_params": null}', 'vm:9842:949f8077', 'c03c1d0d0c284e769579c896aae72496', NULL, 'NotFoundError', 'make_call: file not found: welcome.wav (HTTP 404)', 0, '2026-12-03 10:25:45.758821+00', '2026-12-03 10:25:45.758142+00');
INSERT INTO public.voicekit_calls VALUES ('k06', 7, 'unknown', '{"key": "k06", "from": "19170000000", "to": "9100000006", "file_name": "welcome.wav", "file_url": null, "region": "global", "extra_params": null}', 'vm:9842:949f8077', 'c03c1d0d0c284e769579c896aae72496', NULL, 'CallOutcomeUnknownError', 'the connection was lost after the request was sent; the call may or may not have been placed, and voicekit did not retry it. Check the call records before dialling again.', 0, '2026-12-03 10:25:45.758821+00', '2026-12-03 10:25:45.758142+00');


--
-- Data for Name: voicekit_meta; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.voicekit_meta VALUES ('schema', '1');
INSERT INTO public.voicekit_meta VALUES ('campaign', '{"path": "/tmp/legacy-gen/out/legacy.csv", "size": 529, "sha256": "8d54ffe5a3636168cfbe98b96746b7804235c359df72dcdb919aca03c906fb94", "vendor": "telecmi", "columns": ["key", "to", "from", "file_name"], "shard": null}');
INSERT INTO public.voicekit_meta VALUES ('created', '1796293545.7505496');
INSERT INTO public.voicekit_meta VALUES ('loaded', '1');


--
-- Data for Name: voicekit_outcomes; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.voicekit_outcomes VALUES ('telecmi:0f6c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e01', 'k01', true, '5b1e0c7a-94d2-4b7e-8f03-1c2a9d6e4f01', '9100000001', 1767225606, 23, '0.6', 'recv_bye', 'webhook', '2026-12-03 10:25:45.76032+00');
INSERT INTO public.voicekit_outcomes VALUES ('telecmi:0f6c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e99', NULL, false, '5b1e0c7a-94d2-4b7e-8f03-1c2a9d6e4f99', '9100000077', 1767225690, 0, NULL, 'no_answer', 'webhook', '2026-12-03 10:25:45.76032+00');


--
-- Data for Name: voicekit_workers; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.voicekit_workers VALUES ('vm:9842:949f8077', 'vm', 9842, '2026-12-03 10:25:45.75137+00', '2026-12-03 10:25:46.75829+00', 'live');


--
-- Name: voicekit_calls voicekit_calls_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.voicekit_calls
    ADD CONSTRAINT voicekit_calls_pkey PRIMARY KEY (key);


--
-- Name: voicekit_meta voicekit_meta_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.voicekit_meta
    ADD CONSTRAINT voicekit_meta_pkey PRIMARY KEY (name);


--
-- Name: voicekit_outcomes voicekit_outcomes_key_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.voicekit_outcomes
    ADD CONSTRAINT voicekit_outcomes_key_key UNIQUE (key);


--
-- Name: voicekit_outcomes voicekit_outcomes_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.voicekit_outcomes
    ADD CONSTRAINT voicekit_outcomes_pkey PRIMARY KEY (vendor_id);


--
-- Name: voicekit_workers voicekit_workers_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.voicekit_workers
    ADD CONSTRAINT voicekit_workers_pkey PRIMARY KEY (id);


--
-- Name: voicekit_calls_free; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX voicekit_calls_free ON public.voicekit_calls USING btree ("row") WHERE ((state = 'pending'::text) AND (holder IS NULL));


--
-- Name: voicekit_calls_held; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX voicekit_calls_held ON public.voicekit_calls USING btree (holder) WHERE (state = ANY (ARRAY['pending'::text, 'sending'::text]));


--
-- Name: voicekit_calls_request_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX voicekit_calls_request_id ON public.voicekit_calls USING btree (request_id) WHERE (request_id IS NOT NULL);


--
-- Name: voicekit_outcomes_unmatched; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX voicekit_outcomes_unmatched ON public.voicekit_outcomes USING btree (request_id) WHERE (key IS NULL);


--
-- PostgreSQL database dump complete
--

\unrestrict yodlztScAFoh9sudrSxl2r7naw8ccicu3aFaw8IN1jCYm1mz0dy2hIgmhA30mOV

