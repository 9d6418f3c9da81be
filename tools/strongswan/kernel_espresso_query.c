// SPDX-License-Identifier: GPL-2.0
/*
 * kernel_espresso_query: espressod's counters for charon's query_sa and
 * query_policy. One "-j show sa" (or "show tunnels") answers every query of
 * the next QUERY_CACHE_MS, indexed by SPI and direction (by name): charon
 * asks for each CHILD_SA in a row (swanctl --list-sas, rekeys), and a show
 * of 10,000 tunnels is megabytes. Any change the plugin sends makes the next
 * query ask again.
 */
#include "kernel_espresso_state.h"

#include <string.h>

#include <json-c/json.h>

#define QUERY_CACHE_MS 100

static uint64_t now_ms(void)
{
	timeval_t tv;

	time_monotonic(&tv);
	return tv.tv_sec * 1000ull + tv.tv_usec / 1000;
}

static void cache_drop(query_cache_t *c)
{
	if (c->idx)
	{
		c->idx->destroy(c->idx);
		c->idx = NULL;
	}
	if (c->json)
	{
		json_object_put(c->json);
		c->json = NULL;
	}
}

static uintptr_t sa_key(uint32_t spi, bool out)
{
	return ((uintptr_t)spi << 1 | out) + 1;
}

/* c holds a fresh answer to "-j show WHAT", indexed; FALSE: espressod
 * did not answer */
static bool cache_fill(private_t *this, query_cache_t *c, bool tunnels)
{
	struct json_object *o, *v, *d;
	char *body = NULL;
	uint64_t now = now_ms();
	size_t i;

	if (c->json && c->gen == this->gen &&
		now - c->ms < QUERY_CACHE_MS)
	{
		return TRUE;
	}
	cache_drop(c);
	if (ke_req(this, 0, &body, FALSE, "-j show %s",
			   tunnels ? "tunnels" : "sa"))
	{
		free(body);
		return FALSE;
	}
	c->json = json_tokener_parse(body);
	free(body);
	c->ms = now;
	c->gen = this->gen;
	c->idx = tunnels ? hashtable_create(hashtable_hash_str,
										hashtable_equals_str, 64)
					 : hashtable_create(hashtable_hash_ptr,
										hashtable_equals_ptr, 64);
	for (i = 0; c->json && json_object_is_type(c->json, json_type_array) &&
		 i < json_object_array_length(c->json); i++)
	{
		o = json_object_array_get_idx(c->json, i);
		if (tunnels)
		{
			if (json_object_object_get_ex(o, "name", &v))
			{
				c->idx->put(c->idx, json_object_get_string(v), o);
			}
		}
		else if (json_object_object_get_ex(o, "spi", &v) &&
				 json_object_object_get_ex(o, "dir", &d))
		{
			uint32_t spi = strtoul(json_object_get_string(v), NULL, 16);
			bool out = !strcmp(json_object_get_string(d), "out");

			c->idx->put(c->idx, (void*)sa_key(spi, out), o);
		}
	}
	return TRUE;
}

static uint64_t u64_of(struct json_object *o, const char *key, bool *has)
{
	struct json_object *v;
	bool h = json_object_object_get_ex(o, key, &v);

	if (has)
	{
		*has = h;
	}
	return h ? json_object_get_uint64(v) : 0;
}

/* the row of key in an answer not older than QUERY_CACHE_MS and given
 * after the plugin's last change (an SA it just added is in it) */
static struct json_object *lookup(private_t *this, query_cache_t *c,
								  bool tunnels, const void *key)
{
	if (!cache_fill(this, c, tunnels))
	{
		return NULL;
	}
	return c->idx->get(c->idx, key);
}

status_t ke_query_sa(private_t *this, uint32_t spi, bool out,
					 uint64_t *bytes, uint64_t *packets, time_t *time)
{
	struct json_object *o;
	uint64_t idle;
	bool has;

	o = lookup(this, &this->sa_cache, FALSE, (void*)sa_key(spi, out));
	if (!o)
	{
		return NOT_FOUND;
	}
	if (bytes)
	{
		*bytes = u64_of(o, "bytes", NULL);
	}
	if (packets)
	{
		*packets = u64_of(o, "packets", NULL);
	}
	if (time)
	{	/* charon's clock is the monotonic one, in seconds */
		idle = u64_of(o, "idle_ms", &has);
		*time = has ? time_monotonic(NULL) - idle / 1000 : 0;
	}
	return SUCCESS;
}

status_t ke_query_tunnel(private_t *this, const char *name, bool out,
						 time_t *use)
{
	struct json_object *o;
	uint64_t ms;
	bool has;

	o = lookup(this, &this->tun_cache, TRUE, name);
	if (!o)
	{
		return NOT_FOUND;
	}
	ms = u64_of(o, out ? "last_out_ms" : "last_in_ms", &has);
	*use = has ? time_monotonic(NULL) - ms / 1000 : 0;
	return SUCCESS;
}

void ke_query_destroy(private_t *this)
{
	cache_drop(&this->sa_cache);
	cache_drop(&this->tun_cache);
}
